"""Per-minute rollups of each SLI, kept fresh incrementally, so evaluation never scans raw rows.

How freshness is kept exact without rescanning everything:

* ``turns.id`` only grows, so the turns inserted since the last refresh are
  ``id > watermark``. The minutes they (and the calls they belong to) fall
  in are recomputed from the raw rows: a spool replayed a day late lands in
  the right minute, since it is the *insert* order that is tracked, not the
  call time.
* Recomputing a minute replaces its row, so doing it twice is harmless.
  That lets every refresh re-read the last ``ID_OVERLAP`` ids (a PostgreSQL
  sequence hands out ids before commit, so a slow transaction can commit a
  lower id after a higher one is visible) and the last ``TRAILING`` of wall
  time (calls with no turns at all, e.g. connect errors, have no id to track).
* Evaluation reads whole minutes from the rollup and the partial minutes at
  a window's edges from the raw rows, so results are exact at any instant.

A call stored later than ``TRAILING`` after it happened *and* with no turns
is the one case a refresh misses; ``rebuild()`` recomputes everything.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import Connection, Table, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from voiceobs.results import utcnow
from voiceobs.slo.query import (
    RUNS,
    TURNS,
    Source,
    floor_minute,
    minute_of,
    minute_start,
    per_minute,
    source_for,
)
from voiceobs.slo.spec import SLO
from voiceobs.store import Store
from voiceobs.store.models import SloRollup, SloRollupState

ROLLUPS: Table = SloRollup.__table__  # type: ignore[assignment]
STATE: Table = SloRollupState.__table__  # type: ignore[assignment]
#: Ids re-read on every refresh, for transactions that committed out of id order.
ID_OVERLAP = 1000
#: Wall time re-read on every refresh, for late rows with no turn id to track.
TRAILING = timedelta(minutes=15)
#: Dirty minutes closer than this are recomputed as one range (fewer, larger queries).
MERGE_GAP = 30


def _ranges(minutes: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted minutes -> half-open ``[first, last + 1)`` ranges, merging small gaps."""
    out: list[tuple[int, int]] = []
    for m in sorted(set(minutes)):
        if out and m <= out[-1][1] + MERGE_GAP:
            out[-1] = (out[-1][0], max(out[-1][1], m + 1))
        else:
            out.append((m, m + 1))
    return out


def _recompute(conn: Connection, key: str, src: Source, dialect: str,
               start: int | None, end: int | None) -> None:
    """Replace the rollup rows of ``key`` in minutes ``[start, end)`` (None: unbounded)."""
    cond = [ROLLUPS.c.slo_key == key]
    if start is not None:
        cond.append(ROLLUPS.c.minute >= start)
    if end is not None:
        cond.append(ROLLUPS.c.minute < end)
    conn.execute(delete(ROLLUPS).where(*cond))
    q = per_minute(
        src,
        key,
        dialect,
        None if start is None else minute_start(start),
        None if end is None else minute_start(end),
    )
    conn.execute(insert(ROLLUPS).from_select(["slo_key", "minute", "good", "total"], q))


def _dirty_minutes(conn: Connection, src: Source, dialect: str, after_id: int) -> set[int]:
    """Minutes touched by turns with ``id > after_id`` (for calls: the call's own minute)."""
    if src.table is RUNS:
        # IN (subquery), not a join: a planner that starts from probe_runs would scan them all.
        new_runs = select(TURNS.c.run_id).where(TURNS.c.id > after_id)
        q = (
            select(minute_of(RUNS.c.started_at, dialect))
            .where(RUNS.c.id.in_(new_runs))
            .distinct()
        )
    else:
        q = select(minute_of(TURNS.c.started_at, dialect)).where(TURNS.c.id > after_id).distinct()
    return {int(m) for (m,) in conn.execute(q) if m is not None}


def refresh(store: Store, slo: SLO) -> None:
    """Bring the rollup of ``slo``'s SLI up to date with the raw tables."""
    for attempt in range(2):
        try:
            _refresh_once(store, slo)
            return
        except IntegrityError:
            # Another evaluator refreshed the same minutes at the same moment: its
            # rows are as good as ours. Try once more so our watermark moves too.
            if attempt:
                return


def _refresh_once(store: Store, slo: SLO) -> None:
    dialect = store.engine.dialect.name
    key = slo.key
    src = source_for(slo)
    wall = utcnow()
    with store.engine.begin() as conn:
        if dialect == "sqlite":
            # Take SQLite's write lock before reading: a deferred transaction that
            # reads and then writes fails at once ("database is locked") when another
            # evaluator committed in between, whatever the busy timeout.
            conn.execute(STATE.update().where(STATE.c.slo_key == key).values(refreshed_at=wall))
        state_q = select(STATE.c.turn_watermark).where(STATE.c.slo_key == key)
        if dialect == "postgresql":
            state_q = state_q.with_for_update()
        watermark = conn.execute(state_q).scalar()
        head = int(conn.execute(select(func.coalesce(func.max(TURNS.c.id), 0))).scalar() or 0)
        if watermark is None:
            _recompute(conn, key, src, dialect, None, None)
            conn.execute(
                insert(STATE).values(
                    slo_key=key, definition=str(slo.sli.to_dict() | slo.selector.to_dict()),
                    turn_watermark=head, refreshed_at=wall,
                )
            )
            return
        dirty = _dirty_minutes(conn, src, dialect, max(0, int(watermark) - ID_OVERLAP))
        trailing_from = floor_minute(wall - TRAILING)
        for start, end in _ranges(m for m in dirty if m < trailing_from):
            _recompute(conn, key, src, dialect, start, end)
        # Open-ended: a probe host whose clock runs ahead stores calls "in the future".
        _recompute(conn, key, src, dialect, trailing_from, None)
        conn.execute(
            STATE.update()
            .where(STATE.c.slo_key == key)
            .values(turn_watermark=max(head, int(watermark)), refreshed_at=wall)
        )


def rebuild(store: Store, slos: Iterable[SLO]) -> None:
    """Drop and rebuild the rollups of ``slos`` from every stored row."""
    slos = list(slos)
    with store.engine.begin() as conn:
        for slo in slos:
            conn.execute(delete(ROLLUPS).where(ROLLUPS.c.slo_key == slo.key))
            conn.execute(delete(STATE).where(STATE.c.slo_key == slo.key))
    for slo in slos:
        refresh(store, slo)


__all__ = ["ID_OVERLAP", "TRAILING", "rebuild", "refresh"]
