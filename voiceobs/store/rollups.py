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

The latency histograms (``voiceobs.store.histograms``) ride the same
machinery under one more state row, ``HISTOGRAM_KEY``: the same watermark,
overlap and trailing window pick the dirty minutes, whose histogram rows are
recomputed from the raw turns, and the hours containing them are re-merged
from their minutes. ``refresh_all`` brings every SLO rollup and the
histograms up to date in one call (``voiceobs watch``); the dashboard calls
``refresh_histograms`` before it reads them. The Prometheus exporter's
rows (``voiceobs.store.metric_rollups``, state row ``METRIC_ROLLUP_KEY``)
follow the turn histograms' dirty minutes and recompute the quarter hour
holding each; a quarter hour that a horizon cuts still has all its raw rows, since the horizon lies ``RAW_MARGIN`` (or half the raw
retention) after the cutoff.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta

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
from voiceobs.store import histograms, metric_rollups
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
#: The state row of the latency histograms (no SLO key is this: those are hashes).
HISTOGRAM_KEY = "latency_histograms"
#: The state row of the stage span histograms; its ``turn_watermark`` holds a span id.
SPAN_HISTOGRAM_KEY = "stage_histograms"
#: The state row of the exporter's quarter-hour rows (``metric_rollups``).
METRIC_ROLLUP_KEY = "metric_rollups"
#: Minutes in a day: histograms are rebuilt a day at a time.
_DAY = 24 * 60


def _ranges(minutes: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted minutes -> half-open ``[first, last + 1)`` ranges, merging small gaps."""
    out: list[tuple[int, int]] = []
    for m in sorted(set(minutes)):
        if out and m <= out[-1][1] + MERGE_GAP:
            out[-1] = (out[-1][0], max(out[-1][1], m + 1))
        else:
            out.append((m, m + 1))
    return out


def _recompute(
    conn: Connection, key: str, src: Source, dialect: str, start: int | None, end: int | None
) -> None:
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
        return _dirty_run_minutes(conn, dialect, after_id)
    return _dirty_turn_minutes(conn, dialect, after_id)


def _dirty_run_minutes(conn: Connection, dialect: str, after_id: int) -> set[int]:
    """Minutes the calls of the turns with ``id > after_id`` started in."""
    # IN (subquery), not a join: a planner that starts from probe_runs would scan them all.
    new_runs = select(TURNS.c.run_id).where(TURNS.c.id > after_id)
    q = select(minute_of(RUNS.c.started_at, dialect)).where(RUNS.c.id.in_(new_runs)).distinct()
    return {int(m) for (m,) in conn.execute(q) if m is not None}


def _dirty_turn_minutes(conn: Connection, dialect: str, after_id: int) -> set[int]:
    """Minutes the turns with ``id > after_id`` started in."""
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
    frozen = _horizon_minute(horizon)
    _retrying(store, lambda: _refresh_once(store, _sli_rollup(store, query), frozen))


def refresh_histograms(store: Store, horizon: datetime | None = None) -> None:
    """Bring the per-minute and per-hour latency histograms up to date with the raw turns."""
    frozen = _horizon_minute(horizon)
    _retrying(store, lambda: _refresh_once(store, _histogram_rollup(store), frozen))


def refresh_span_histograms(store: Store, horizon: datetime | None = None) -> None:
    """Bring the stage span histograms up to date with the raw spans.

    ``horizon`` is the spans' own (they are kept for less time than turns).
    """
    frozen = _horizon_minute(horizon)
    _retrying(store, lambda: _refresh_once(store, _span_histogram_rollup(store), frozen))


def refresh_metric_rollups(store: Store, horizon: datetime | None = None) -> None:
    """Bring the exporter's rows up to date with the raw turns and calls."""
    frozen = _horizon_minute(horizon)
    _retrying(store, lambda: _refresh_once(store, _metric_rollup(store), frozen))


def refresh_all(
    store: Store,
    queries: Iterable[SliQuery],
    horizon: datetime | None = None,
    span_horizon: datetime | None = None,
) -> None:
    """Refresh the rollup of every SLI in ``queries`` and the dashboard's histograms.

    The exporter's rows are left to ``refresh_metric_rollups``, which the
    exporter runs itself and ``voiceobs watch`` once per pass, so an SLO
    evaluation (``voiceobs evaluate``, a CI gate) does not wait for them.
    """
    for query in queries:
        refresh(store, query, horizon)
    refresh_histograms(store, horizon)
    refresh_span_histograms(store, span_horizon)


def _retrying(store: Store, once: Callable[[], None]) -> None:
    for attempt in range(2):
        try:
            once()
            return
        except IntegrityError:
            # Another evaluator refreshed the same minutes at the same moment: its
            # rows are as good as ours. Try once more so our watermark moves too.
            if attempt:
                return
        except SQLAlchemyError as exc:
            raise translate_db_error(exc, store.url) from exc


class _Rollup:
    """One rollup kept by the shared refresh: its state key, dirty minutes, recompute."""

    def __init__(
        self,
        key: str,
        definition: str,
        dirty: Callable[[Connection, int], set[int]],
        recompute: Callable[[Connection, list[tuple[int | None, int | None]]], None],
        fill: Callable[[Connection, int], None],
        head: Callable[[Connection], int] | None = None,
    ) -> None:
        self.key, self.definition, self.dirty, self.recompute = key, definition, dirty, recompute
        #: Adds rows for minutes before a horizon that have none, never replacing one.
        self.fill = fill
        #: The newest id of the rows it follows (turns, unless said otherwise).
        self.head = head or _head_turn


def _sli_rollup(store: Store, query: SliQuery) -> _Rollup:
    dialect = store.engine.dialect.name
    src = source_for(query)

    def recompute(conn: Connection, spans: list[tuple[int | None, int | None]]) -> None:
        for start, end in spans:
            _recompute(conn, query.key, src, dialect, start, end)

    return _Rollup(
        query.key, _definition(query),
        lambda conn, after: _dirty_minutes(conn, src, dialect, after), recompute,
        lambda conn, end: _fill(conn, query.key, src, dialect, end),
    )  # fmt: skip


@dataclass(frozen=True)
class _Family:
    """One set of histogram rows and the raw rows it is computed from."""

    key: str
    definition: str
    measures: tuple[str, ...]
    #: Replace the minute rows of ``[start, end)``; the last minute written.
    minutes: Callable[[Connection, int | None, int | None], int | None]
    #: First minutes of the days holding raw rows in ``[lo, hi)`` (None: unbounded).
    days: Callable[[Connection, int | None, int | None], list[int]]
    #: The newest raw minute (None: no rows).
    newest: Callable[[Connection], int | None]
    dirty: Callable[[Connection, int], set[int]]
    head: Callable[[Connection], int]
    #: Where the rows are, and the width of the rows ``minutes`` writes (None: the table keeps
    #: one width only, so has no ``width`` column).
    table: Table = histograms.HISTOGRAMS
    width: int | None = histograms.MINUTE
    #: Replace the wider rows of some hours from the ``minutes`` rows (None: none are kept).
    hours: Callable[[Connection, Iterable[int], Sequence[str]], None] | None = histograms.recompute_hours


def _turn_family(dialect: str) -> _Family:
    def minutes(conn: Connection, start: int | None, end: int | None) -> int | None:
        return histograms.recompute_minutes(conn, dialect, start, end)

    def newest(conn: Connection) -> int | None:
        # MAX of the bare column is one index seek; MAX of an expression of it reads every turn.
        got = conn.execute(select(func.max(TURNS.c.started_at))).scalar()
        if isinstance(got, str):  # SQLite hands an aggregate back as its stored text
            got = datetime.fromisoformat(got)
        if got is None:
            return None
        return floor_minute(got if got.tzinfo else got.replace(tzinfo=UTC))

    def dirty(conn: Connection, after: int) -> set[int]:
        # The histograms count calls too, by the call's own start: the minutes of the
        # calls the new turns belong to are dirty as well as the turns' own.
        return _dirty_turn_minutes(conn, dialect, after) | _dirty_run_minutes(conn, dialect, after)

    return _Family(
        HISTOGRAM_KEY, histograms.definition(), histograms.MEASURES, minutes,
        lambda conn, lo, hi: _turn_days(conn, dialect, lo, hi), newest, dirty, _head_turn,
    )  # fmt: skip


def _metric_family(dialect: str) -> _Family:
    """The exporter's rows: the turn family's raw rows and dirty minutes, in quarter hours."""

    def minutes(conn: Connection, start: int | None, end: int | None) -> int | None:
        return metric_rollups.recompute(conn, dialect, start, end)

    return replace(
        _turn_family(dialect), key=METRIC_ROLLUP_KEY, definition=metric_rollups.definition(),
        measures=metric_rollups.MEASURES, minutes=minutes, table=metric_rollups.TABLE,
        width=None, hours=None,
    )  # fmt: skip


def _span_family() -> _Family:
    minute, per_minute = histograms.span_minute(), histograms.NS_PER_MINUTE
    stage = histograms.SPANS.c.name.in_(histograms.STAGES)

    def days(conn: Connection, lo: int | None, hi: int | None) -> list[int]:
        q = select((minute // _DAY).label("d")).where(stage).distinct()
        if lo is not None:
            q = q.where(histograms.SPANS.c.start_ns >= lo * per_minute)
        if hi is not None:
            q = q.where(histograms.SPANS.c.start_ns < hi * per_minute)
        return sorted(int(d) * _DAY for (d,) in conn.execute(q))

    def newest(conn: Connection) -> int | None:
        got = conn.execute(select(func.max(histograms.SPANS.c.start_ns)).where(stage)).scalar()
        return None if got is None else int(got) // per_minute

    def dirty(conn: Connection, after: int) -> set[int]:
        q = select(minute).where(histograms.SPANS.c.id > after, stage).distinct()
        return {int(m) for (m,) in conn.execute(q)}

    def head(conn: Connection) -> int:
        got = conn.execute(select(func.coalesce(func.max(histograms.SPANS.c.id), 0))).scalar()
        return int(got or 0)

    return _Family(
        SPAN_HISTOGRAM_KEY, histograms.span_definition(), histograms.STAGE_MEASURES,
        histograms.recompute_span_minutes, days, newest, dirty, head,
    )  # fmt: skip


def _head_turn(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(TURNS.c.id), 0))).scalar() or 0)


def _histogram_rollup(store: Store) -> _Rollup:
    return _histogram_rollup_for(_turn_family(store.engine.dialect.name))


def _metric_rollup(store: Store) -> _Rollup:
    return _histogram_rollup_for(_metric_family(store.engine.dialect.name))


def _span_histogram_rollup(store: Store) -> _Rollup:
    return _histogram_rollup_for(_span_family())


def _histogram_rollup_for(family: _Family) -> _Rollup:
    measures = family.measures

    def hours(conn: Connection, lo: int, stop: int) -> None:
        if family.hours is not None:
            family.hours(conn, range(lo // histograms.HOUR, stop // histograms.HOUR + 1), measures)

    def recompute(conn: Connection, spans: list[tuple[int | None, int | None]]) -> None:
        for start, end in spans:
            if start is None:
                _rebuild_histograms(conn, family)
                continue
            if end is None:
                newest = family.newest(conn)
                if newest is not None and newest - start > _DAY:
                    # From a horizon days back: whole days first, then the open end.
                    tail = newest // _DAY * _DAY
                    recompute(conn, [(start, tail), (tail, None)])
                    continue
            if end is not None and end - start > _DAY:
                # A bulk import since the last refresh: a day at a time (bounded memory),
                # only the days with raw rows or with rows to clear (a stray row years ahead
                # must not make this walk every day in between).
                days = set(family.days(conn, start, end)) | _histogram_days(
                    conn, family, start, end
                )
                for lo in sorted(days):
                    recompute(conn, [(max(start, lo), min(end, lo + _DAY))])
                continue
            last = family.minutes(conn, start, end)
            # Open-ended (a clock running ahead): up to the last minute written.
            hours(conn, start, end - 1 if end is not None else max(start, last or start))

    def fill(conn: Connection, end: int) -> None:
        # Histograms are filled before a horizon only where none exist yet (a store that
        # was pruned before it had histograms): a minute's row is never replaced there.
        h = family.table
        cond = [h.c.measure.in_(measures), h.c.minute < end]
        if family.width is not None:
            cond.append(h.c.width == family.width)
        exists_before = conn.execute(select(h.c.minute).where(*cond).limit(1)).first()
        if exists_before is not None:
            return
        for lo in family.days(conn, None, end):
            hi = min(end, lo + _DAY)
            family.minutes(conn, lo, hi)
            hours(conn, lo, hi - 1)

    return _Rollup(family.key, family.definition, family.dirty, recompute, fill, head=family.head)


def _turn_days(
    conn: Connection, dialect: str, lo: int | None = None, hi: int | None = None
) -> list[int]:
    """First minutes of the UTC days that hold turns or calls in minutes ``[lo, hi)``, in order.

    Calls count too: a day of nothing but failed connects has calls and no turns.
    """
    days: set[int] = set()
    for table in (TURNS, RUNS):
        minute = minute_of(table.c.started_at, dialect)
        q = select(minute).distinct()
        if lo is not None:
            q = q.where(table.c.started_at >= minute_start(lo))
        if hi is not None:
            q = q.where(table.c.started_at < minute_start(hi))
        days |= {int(m) // _DAY * _DAY for (m,) in conn.execute(q) if m is not None}
    return sorted(days)


def _histogram_days(conn: Connection, family: _Family, lo: int, hi: int) -> set[int]:
    """First minutes of the days in ``[lo, hi)`` that have rows of ``family`` now."""
    h = family.table
    q = select(h.c.minute).where(h.c.measure.in_(family.measures), h.c.minute >= lo, h.c.minute < hi)
    return {int(m) // _DAY * _DAY for (m,) in conn.execute(q.distinct())}


def _rebuild_histograms(conn: Connection, family: _Family) -> None:
    """Every row of ``family`` from the raw rows, a day at a time (bounded memory)."""
    conn.execute(delete(family.table).where(family.table.c.measure.in_(family.measures)))
    for lo in family.days(conn, None, None):
        family.minutes(conn, lo, lo + _DAY)
        if family.hours is not None:
            family.hours(
                conn, range(lo // histograms.HOUR, (lo + _DAY) // histograms.HOUR), family.measures
            )


def _definition(query: SliQuery) -> str:
    return json.dumps({k: v for k, v in asdict(query).items() if k != "key"}, sort_keys=True)


def _refresh_once(store: Store, rollup: _Rollup, frozen: int | None) -> None:
    dialect = store.engine.dialect.name
    key = rollup.key
    wall = utcnow()
    with store.engine.begin() as conn:
        if dialect == "sqlite":
            # Take SQLite's write lock before reading: a deferred transaction that
            # reads and then writes fails at once ("database is locked") when another
            # evaluator committed in between, whatever the busy timeout.
            conn.execute(STATE.update().where(STATE.c.slo_key == key).values(refreshed_at=wall))
        state_q = select(STATE.c.turn_watermark, STATE.c.definition).where(STATE.c.slo_key == key)
        if dialect == "postgresql":
            state_q = state_q.with_for_update()
        state = conn.execute(state_q).first()
        head = rollup.head(conn)
        changed = state is not None and state[1] != rollup.definition
        if changed:
            # What the rows mean changed (the histogram scale or its measures): start over,
            # from whatever raw rows are left (older rows in the old scale mean nothing now).
            conn.execute(delete(STATE).where(STATE.c.slo_key == key))
            state = None
        if state is None:
            if frozen is None or changed:
                rollup.recompute(conn, [(None, None)])
            else:
                rollup.fill(conn, frozen)
                rollup.recompute(conn, [(frozen, None)])
            conn.execute(
                insert(STATE).values(
                    slo_key=key,
                    definition=rollup.definition,
                    turn_watermark=head,
                    refreshed_at=wall,
                )
            )
            return
        watermark = int(state[0])
        dirty = rollup.dirty(conn, max(0, watermark - ID_OVERLAP))
        trailing_from = floor_minute(wall - TRAILING)
        if frozen is not None:
            # A late row before the horizon: its minute's other rows may be pruned.
            dirty = {m for m in dirty if m >= frozen}
        spans: list[tuple[int | None, int | None]] = list(
            _ranges(m for m in dirty if m < trailing_from)
        )
        # Open-ended: a probe host whose clock runs ahead stores calls "in the future".
        spans.append((trailing_from, None))
        rollup.recompute(conn, spans)
        conn.execute(
            STATE.update()
            .where(STATE.c.slo_key == key)
            .values(turn_watermark=max(head, watermark), refreshed_at=wall)
        )


def rebuild(
    store: Store,
    queries: Iterable[SliQuery],
    horizon: datetime | None = None,
    span_horizon: datetime | None = None,
) -> None:
    """Drop and rebuild the rollups of ``queries`` and the histograms from the stored rows.

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
        conn.execute(
            delete(STATE).where(
                STATE.c.slo_key.in_([HISTOGRAM_KEY, SPAN_HISTOGRAM_KEY, METRIC_ROLLUP_KEY])
            )
        )
    refresh_all(store, queries, horizon, span_horizon)
    refresh_metric_rollups(store, horizon)


def backfill_histograms(conn: Connection) -> None:
    """Build the histograms of every stored turn on ``conn`` and mark them fresh (migration 0006)."""
    _backfill(conn, _histogram_rollup_for(_turn_family(conn.dialect.name)))


def backfill_metric_rollups(conn: Connection) -> None:
    """Build the exporter's rows from every stored turn and call on ``conn`` (migration 0010)."""
    _backfill(conn, _histogram_rollup_for(_metric_family(conn.dialect.name)))


def _backfill(conn: Connection, rollup: _Rollup) -> None:
    head = rollup.head(conn)
    conn.execute(delete(STATE).where(STATE.c.slo_key == rollup.key))
    rollup.recompute(conn, [(None, None)])
    conn.execute(insert(STATE).values(slo_key=rollup.key, definition=rollup.definition,
                                      turn_watermark=head, refreshed_at=utcnow()))  # fmt: skip


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


__all__ = [
    "HISTOGRAM_KEY",
    "ID_OVERLAP",
    "METRIC_ROLLUP_KEY",
    "SPAN_HISTOGRAM_KEY",
    "TRAILING",
    "backfill_histograms",
    "backfill_metric_rollups",
    "rebuild",
    "refresh",
    "refresh_all",
    "refresh_histograms",
    "refresh_metric_rollups",
    "refresh_span_histograms",
    "window_counts",
]
