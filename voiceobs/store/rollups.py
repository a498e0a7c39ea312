"""Per-minute rollups of each SLI, kept fresh incrementally, so evaluation never scans raw rows.

The one place rollups are maintained and read: the SLO engine asks for
``refresh`` and ``window_counts`` with an ``SliQuery``, and never builds SQL
itself.

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
is the one case a refresh misses; ``rebuild()`` recomputes everything it can.

Retention removes raw calls and turns long before their rollup rows
(``voiceobs.store.retention``), so every function here takes a ``horizon``:
the instant before which raw rows may be gone. A minute before it is never
recomputed (that would replace its counts with those of whatever rows are
left, usually none), only filled in where the rollup has no row at all, and
a window that reaches past it is read from the rollup alone, whole minutes
(the partial minute at its start is left out), so an SLO gives the same
figures before and after a prune.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime, timedelta

from sqlalchemy import (
    Connection,
    Table,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    union_all,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from voiceobs.results import utcnow
from voiceobs.store.engine import translate_db_error
from voiceobs.store.filters import ceil_minute, floor_minute, minute_of, minute_start
from voiceobs.store.models import SloRollup, SloRollupState
from voiceobs.store.repository import Store
from voiceobs.store.sli import RUNS, TURNS, SliQuery, Source, per_minute, source_for

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


def _fill(conn: Connection, key: str, src: Source, dialect: str, end: int) -> None:
    """Add raw minutes before ``end`` that the rollup has no row for; never replace a row."""
    q = per_minute(src, key, dialect, None, minute_start(end)).subquery()
    missing = select(q.c.slo_key, q.c.minute, q.c.good, q.c.total).where(
        ~exists().where(ROLLUPS.c.slo_key == q.c.slo_key, ROLLUPS.c.minute == q.c.minute)
    )
    conn.execute(insert(ROLLUPS).from_select(["slo_key", "minute", "good", "total"], missing))


def _horizon_minute(horizon: datetime | None) -> int | None:
    return None if horizon is None else floor_minute(horizon)


def refresh(store: Store, query: SliQuery, horizon: datetime | None = None) -> None:
    """Bring the rollup of an SLI up to date with the raw tables.

    Minutes before ``horizon`` (raw rows may have been pruned there) are
    never recomputed.
    """
    for attempt in range(2):
        try:
            _refresh_once(store, query, _horizon_minute(horizon))
            return
        except IntegrityError:
            # Another evaluator refreshed the same minutes at the same moment: its
            # rows are as good as ours. Try once more so our watermark moves too.
            if attempt:
                return
        except SQLAlchemyError as exc:
            raise translate_db_error(exc, store.url) from exc


def _definition(query: SliQuery) -> str:
    return json.dumps({k: v for k, v in asdict(query).items() if k != "key"}, sort_keys=True)


def _refresh_once(store: Store, query: SliQuery, frozen: int | None) -> None:
    dialect = store.engine.dialect.name
    key = query.key
    src = source_for(query)
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
            if frozen is None:
                _recompute(conn, key, src, dialect, None, None)
            else:
                _fill(conn, key, src, dialect, frozen)
                _recompute(conn, key, src, dialect, frozen, None)
            conn.execute(
                insert(STATE).values(
                    slo_key=key, definition=_definition(query),
                    turn_watermark=head, refreshed_at=wall,
                )
            )
            return
        dirty = _dirty_minutes(conn, src, dialect, max(0, int(watermark) - ID_OVERLAP))
        trailing_from = floor_minute(wall - TRAILING)
        if frozen is not None:
            # A late row before the horizon: its minute's other rows may be pruned.
            dirty = {m for m in dirty if m >= frozen}
        for start, end in _ranges(m for m in dirty if m < trailing_from):
            _recompute(conn, key, src, dialect, start, end)
        # Open-ended: a probe host whose clock runs ahead stores calls "in the future".
        _recompute(conn, key, src, dialect, trailing_from, None)
        conn.execute(
            STATE.update()
            .where(STATE.c.slo_key == key)
            .values(turn_watermark=max(head, int(watermark)), refreshed_at=wall)
        )


def rebuild(store: Store, queries: Iterable[SliQuery], horizon: datetime | None = None) -> None:
    """Drop and rebuild the rollups of ``queries`` from the stored rows.

    Only from ``horizon`` on: older minutes keep their rows (their raw rows
    may be pruned), and get one only where they have none.
    """
    queries = list(queries)
    frozen = _horizon_minute(horizon)
    with store.engine.begin() as conn:
        for q in queries:
            cond = [ROLLUPS.c.slo_key == q.key]
            if frozen is not None:
                cond.append(ROLLUPS.c.minute >= frozen)
            conn.execute(delete(ROLLUPS).where(*cond))
            conn.execute(delete(STATE).where(STATE.c.slo_key == q.key))
    for q in queries:
        refresh(store, q, horizon)


def window_counts(
    store: Store,
    query: SliQuery,
    now: datetime,
    starts: dict[str, datetime],
    horizon: datetime | None = None,
) -> dict[str, tuple[int, int]]:
    """Good and total for every ``[start, now)``: whole minutes from the rollup, edges raw.

    Exact at any instant, because the partial minutes at a window's edges are
    counted from the raw rows; a window starting before ``horizon`` (raw rows
    may be pruned there) starts at its first whole minute instead. Refresh
    the rollup first.
    """
    try:
        with store.engine.connect() as conn:
            return _window_counts(conn, query, now, starts, horizon)
    except SQLAlchemyError as exc:
        raise translate_db_error(exc, store.url) from exc


def _window_counts(
    conn: Connection,
    query: SliQuery,
    now: datetime,
    starts: dict[str, datetime],
    horizon: datetime | None,
) -> dict[str, tuple[int, int]]:
    if horizon is not None:
        starts = {
            label: minute_start(ceil_minute(start)) if start < horizon else start
            for label, start in starts.items()
        }
    src = source_for(query)
    head = floor_minute(now)
    out = {label: (0, 0) for label in starts}
    # Whole minutes [ceil(start), floor(now)) come from the rollup in one query.
    firsts = {label: ceil_minute(start) for label, start in starts.items()}
    lowest = min(firsts.values())
    if lowest < head:
        # One branch per window, each a range scan of the (slo_key, minute) primary key,
        # so a 5-minute window reads 5 rows, not the 30 days of the longest one.
        r = ROLLUPS
        branches = [
            select(
                literal(label).label("w"),
                func.coalesce(func.sum(r.c.good), 0),
                func.coalesce(func.sum(r.c.total), 0),
            ).where(r.c.slo_key == query.key, r.c.minute >= firsts[label], r.c.minute < head)
            for label in starts
            if firsts[label] < head
        ]
        for label, good, total in conn.execute(union_all(*branches)):
            out[label] = (int(good), int(total))
    # Raw rows for the partial minutes: [head, now) shared by every window that reaches
    # it, [start, ceil(start)) per window, or the whole window when it sits inside one
    # minute. One UNION ALL statement, each branch a range on a started_at index.
    head_at = minute_start(head)
    ranges: dict[str, tuple[datetime, datetime]] = {}
    if any(first <= head for first in firsts.values()) and head_at < now:
        ranges["__head__"] = (head_at, now)
    for label, start in starts.items():
        if firsts[label] > head:
            ranges[label] = (start, now)
        elif start < minute_start(firsts[label]):
            ranges[label] = (start, minute_start(firsts[label]))
    if ranges:
        branches = [
            select(literal(label).label("w"), case((src.good, 1), else_=0).label("g"))
            .select_from(src.table)
            .where(src.where, src.started_at >= lo, src.started_at < hi)
            for label, (lo, hi) in ranges.items()
        ]
        both = union_all(*branches).subquery()
        raw = {
            w: (int(g or 0), int(t))
            for w, g, t in conn.execute(
                select(both.c.w, func.sum(both.c.g), func.count()).group_by(both.c.w)
            )
        }
        for label in starts:
            parts = [raw.get(label, (0, 0))]
            if firsts[label] <= head:
                parts.append(raw.get("__head__", (0, 0)))
            out[label] = (
                out[label][0] + sum(p[0] for p in parts),
                out[label][1] + sum(p[1] for p in parts),
            )
    return out


__all__ = ["ID_OVERLAP", "TRAILING", "rebuild", "refresh", "window_counts"]
