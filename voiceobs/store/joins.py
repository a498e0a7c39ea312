"""One call seen from both sides: a probe's record of a call joined with the bot's own.

A probe that calls a bot which exports its traces to ``voiceobs collect``
produces two records of one call: the caller-heard one (``synthetic``) and
the bot-reported one (``production``). They are joined by the W3C trace id
the probe sends in ``traceparent``, or by the Twilio call or stream SID of
the start message, which the bot reports as its conversation id (Pipecat's
``PipelineTask(conversation_id=...)``, LiveKit session metadata). Joining
writes each run's ``joined_run_id`` and, on the probe's turns, the bot's
``reported_latency_ms`` and ``unseen_latency_ms``: caller-heard minus
bot-reported, the time the bot does not see. Turns pair up by index.

The join runs whenever either side is stored, so the order they arrive in
does not matter, and running it again changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, or_, select

from voiceobs.store.models import ProbeRun, Turn
from voiceobs.store.repository import Store

#: How far apart in start time the two records of one call may be.
JOIN_WINDOW = timedelta(hours=1)

_OTHER = {"synthetic": "production", "production": "synthetic"}
_JOIN_COLUMNS = (ProbeRun.id, ProbeRun.source, ProbeRun.trace_id, ProbeRun.call_sid,
                 ProbeRun.stream_sid, ProbeRun.conversation_id, ProbeRun.started_at)  # fmt: skip


def _keys(run: ProbeRun) -> set[str]:
    return {k for k in (run.call_sid, run.stream_sid, run.conversation_id) if k}


def _counterpart(store: Store, run: ProbeRun) -> ProbeRun | None:
    other = "production" if run.source == "synthetic" else "synthetic"
    keys = _keys(run)
    conds = []
    if run.trace_id:
        conds.append(ProbeRun.trace_id == run.trace_id)
    if keys:
        conds += [
            ProbeRun.call_sid.in_(keys),
            ProbeRun.stream_sid.in_(keys),
            ProbeRun.conversation_id.in_(keys),
        ]
    if not conds:
        return None
    q = (
        select(ProbeRun)
        .where(
            ProbeRun.source == other,
            ProbeRun.id != run.id,
            or_(*conds),
            ProbeRun.started_at >= run.started_at - JOIN_WINDOW,
            ProbeRun.started_at <= run.started_at + JOIN_WINDOW,
        )
        .order_by(ProbeRun.started_at.desc())
        .limit(1)
    )
    with store.session() as s:
        return s.scalar(q)


def join_call(store: Store, run_id: str) -> str | None:
    """Join the run with the other side's record of the same call; return the other run's id.

    None when no counterpart is stored (yet): the join happens again when it arrives.
    """
    run = store.get_run(run_id)
    if run is None or run.source not in ("synthetic", "production"):
        return None
    other = _counterpart(store, run)
    if other is None:
        return None
    synthetic, production = (run, other) if run.source == "synthetic" else (other, run)
    production_full = store.get_run(production.id)
    reported = {
        t.turn_index: t.reported_latency_ms
        for t in (production_full.turns if production_full else [])
    }
    with store.session() as s:
        for a, b in ((synthetic.id, production.id), (production.id, synthetic.id)):
            row = s.get(ProbeRun, a)
            if row is not None:
                row.joined_run_id = b
        # The probe's turns get the bot's figure and the difference. They are written
        # again (new ids), so the SLO rollups and the exporter count the new values.
        turns = list(s.scalars(select(Turn).where(Turn.run_id == synthetic.id)))
        changed = [t for t in turns if _joined_values(t, reported.get(t.turn_index)) is not None]
        if changed:
            s.execute(delete(Turn).where(Turn.id.in_([t.id for t in changed])))
            s.flush()
            for old in changed:
                values = {
                    c.key: getattr(old, c.key) for c in Turn.__table__.columns if c.key != "id"
                }
                values.update(_joined_values(old, reported.get(old.turn_index)) or {})
                s.add(Turn(**values))
    return other.id


def join_calls(store: Store, run_ids: Sequence[str]) -> dict[str, str]:
    """``join_call`` for many runs: one query finds which have a counterpart stored.

    Returns ``{run id: other run id}`` for those joined. A collector that
    stores hundreds of calls a second, almost none of them probe calls, then
    pays one query per batch instead of two per call.
    """
    if not run_ids:
        return {}
    with store.session() as s:
        runs = list(s.execute(select(*_JOIN_COLUMNS).where(ProbeRun.id.in_(list(run_ids)))))
    runs = [r for r in runs if r.source in _OTHER]
    traces = {r.trace_id for r in runs if r.trace_id}
    keys = {k for r in runs for k in (r.call_sid, r.stream_sid, r.conversation_id) if k}
    if not traces and not keys:
        return {}
    conds = []
    if traces:
        conds.append(ProbeRun.trace_id.in_(traces))
    if keys:
        conds += [
            ProbeRun.call_sid.in_(keys),
            ProbeRun.stream_sid.in_(keys),
            ProbeRun.conversation_id.in_(keys),
        ]
    first = min(r.started_at for r in runs)
    last = max(r.started_at for r in runs)
    # Only the other side can be a counterpart: a batch of production calls looks among
    # probe calls (few), never among its own kind (the batch itself would match).
    wanted = {_OTHER[r.source] for r in runs}
    q = select(*_JOIN_COLUMNS).where(
        ProbeRun.source.in_(wanted),
        or_(*conds),
        ProbeRun.started_at >= first - JOIN_WINDOW,
        ProbeRun.started_at <= last + JOIN_WINDOW,
    )
    by_key: dict[tuple[str, str], list[Any]] = {}
    with store.session() as s:
        for c in s.execute(q):
            for key in (c.trace_id, c.call_sid, c.stream_sid, c.conversation_id):
                if key:
                    by_key.setdefault((c.source, key), []).append(c)
    joined: dict[str, str] = {}
    for run in runs:
        mine = {k for k in (run.trace_id, run.call_sid, run.stream_sid, run.conversation_id) if k}
        other = _OTHER[run.source]
        if any(
            c.id != run.id and abs(c.started_at - run.started_at) <= JOIN_WINDOW
            for key in mine
            for c in by_key.get((other, key), [])
        ):
            # The pair is rare (a probe call among production traffic): join it in full.
            found = join_call(store, run.id)
            if found is not None:
                joined[run.id] = found
    return joined


def _joined_values(turn: Turn, reported: float | None) -> dict[str, float | None] | None:
    """The turn's new joined figures, or None when they are what it already holds."""
    unseen = (
        turn.turn_latency_ms - reported
        if turn.turn_latency_ms is not None and reported is not None
        else None
    )
    if turn.reported_latency_ms == reported and turn.unseen_latency_ms == unseen:
        return None
    return {"reported_latency_ms": reported, "unseen_latency_ms": unseen}


def joined_turns(run: ProbeRun, other: ProbeRun | None) -> list[dict[str, Any]]:
    """Per turn of a joined call: caller-heard, bot-reported, and the time the bot does not see.

    ``run`` and ``other`` are the two sides in either order (turns loaded).
    ``unseen_ms`` is caller-heard minus bot-reported: transport, buffering and
    telephony the bot's own figures leave out. ``voiceobs calls show`` and the
    dashboard's Calls page both print these rows.
    """
    if other is None:
        return []
    synthetic, production = (run, other) if run.source == "synthetic" else (other, run)
    told = {t.turn_index: t.reported_latency_ms for t in production.turns}
    out = []
    for t in synthetic.turns:
        reported = told.get(t.turn_index)
        heard = t.turn_latency_ms
        out.append({
            "turn_index": t.turn_index,
            "caller_heard_ms": heard,
            "bot_reported_ms": reported,
            "unseen_ms": heard - reported if heard is not None and reported is not None else None,
        })  # fmt: skip
    return out


__all__ = ["JOIN_WINDOW", "join_call", "joined_turns"]
