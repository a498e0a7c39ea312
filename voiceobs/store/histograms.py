"""Latency histograms per minute and per hour: percentiles over long ranges without sorting turns.

An exact p95 over 30 days sorts every turn of the range. Instead, each
minute (and each hour, merged from its minutes) keeps, per measure and per
source, probe, target and region, how many turns fell in each bucket of a
log-spaced scale, their count and their sum. A percentile over any set of
minutes is then a merge of a few thousand small rows.

The bucket scale: a value ``v`` with ``|v| >= MIN_MS`` falls in bucket
``i = floor(log(|v|) / log(GROWTH))``, which spans ``[GROWTH**i, GROWTH**(i+1))``,
and is read back as the bucket's harmonic middle ``2 lo hi / (lo + hi)``.
Every value of the bucket is within ``(GROWTH - 1) / (GROWTH + 1)`` of that
middle, relatively; with ``GROWTH = 1.02`` that is 0.99 %. So a percentile
read from a histogram is within ``RELATIVE_ERROR`` (1 %) of the exact
nearest-rank one: the exact value lies in the bucket the rank falls in.
Values with ``|v| < MIN_MS`` (0.01 ms) read back as 0; negative values
(``unseen_latency_ms`` can be) are mirrored. Count and mean are exact.

Besides the latency measures the rows keep the quality scores (their means
and distributions over long ranges) and four counts whose values carry no
meaning, only their number: every turn (``turns``), every call (``runs``),
every failed call (``failed_runs``, by the call's own start) and every turn
flagged at the default quality thresholds (``flagged``). With them a page's
headline figures over 30 days are a merge of hour rows, not a count of
every stored turn and call.

Pipeline stage spans (``vad``, ``asr``, ``respond``, ``tts``, ``transport``)
have their durations kept the same way, as measures ``stage:NAME``, by the
minute of their start and in one series (spans carry no probe, target or
region: the pages read these only for an unfiltered view). They follow
span ids, not turn ids, under their own state row.

``rollups.py`` maintains these rows on the same refresh as the SLO rollups;
this module says what a row holds and how it is computed and merged.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Table,
    case,
    cast,
    delete,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    union_all,
)

from voiceobs.measures import MEASURES as _VOCABULARY
from voiceobs.measures import QUALITY_METRICS
from voiceobs.store.filters import (
    ceil_minute,
    epoch_seconds,
    floor_minute,
    minute_of,
    minute_start,
)
from voiceobs.store.models import LatencyHistogram, ProbeRun, Span, Turn

HISTOGRAMS: Table = LatencyHistogram.__table__  # type: ignore[assignment]
TURNS: Table = Turn.__table__  # type: ignore[assignment]
RUNS: Table = ProbeRun.__table__  # type: ignore[assignment]
SPANS: Table = Span.__table__  # type: ignore[assignment]

#: Each bucket is this much wider than the one below it.
GROWTH = 1.02
#: The error a percentile read from the histograms may have, relative to the exact one.
RELATIVE_ERROR = 0.01
#: Values closer to zero than this (ms) are read back as 0.
MIN_MS = 0.01
_LN_GROWTH = math.log(GROWTH)
#: Bucket index of MIN_MS; codes count up from it so every stored code is small.
_I_MIN = math.floor(math.log(MIN_MS) / _LN_GROWTH)

#: The latency measures kept: what the Latency page charts (its measures and dynamics panels).
LATENCY: tuple[str, ...] = (
    "turn_latency_ms", "reported_latency_ms", "unseen_latency_ms", "ttfb_ms", "connect_ms",
    "path_delay_ms", "barge_in_stop_ms", "clear_ms", "greeting_ms", "endpoint_wait_ms",
)  # fmt: skip
#: Quality thresholds the ``flagged`` count is kept at: the vocabulary's defaults.
FLAG_THRESHOLDS: dict[str, float] = {
    m: flag for m in QUALITY_METRICS if (flag := _VOCABULARY[m].flag_at) is not None
}
#: Counts kept as measures whose values are all 0: only ``n`` means something.
COUNTS: tuple[str, ...] = ("turns", "runs", "failed_runs", "flagged")
#: Every measure kept from turns and calls.
MEASURES: tuple[str, ...] = (*LATENCY, *QUALITY_METRICS, *COUNTS)
#: Stages a pipeline reports, in the order a turn passes through them.
STAGES: tuple[str, ...] = ("vad", "asr", "respond", "tts", "transport")
#: The span measures: each stage's span duration in ms.
STAGE_MEASURES: tuple[str, ...] = tuple(f"stage:{name}" for name in STAGES)
#: Span starts are nanoseconds; a stage row's minute is ``start_ns // NS_PER_MINUTE``.
NS_PER_MINUTE = 60_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: Row widths in minutes: per minute (edges), per hour (the bulk of a long range).
MINUTE, HOUR = 1, 60
#: The dimensions a row is kept per: what the pages filter and group by.
DIMS: tuple[str, ...] = ("source", "probe_name", "target_url", "region")


def definition() -> str:
    """What the stored rows mean; a change (new scale or measures) makes the refresh rebuild."""
    return json.dumps({"growth": GROWTH, "min_ms": MIN_MS, "measures": list(MEASURES),
                       "flagged": FLAG_THRESHOLDS})  # fmt: skip


def span_definition() -> str:
    """What the stage span rows mean (their own state row, rebuilt when this changes)."""
    return json.dumps({"growth": GROWTH, "min_ms": MIN_MS, "measures": list(STAGE_MEASURES)})


def _duration_ms() -> Any:
    return (SPANS.c.end_ns - SPANS.c.start_ns) / 1e6


def span_minute() -> Any:
    """The minute number of a span's start, in SQL."""
    return SPANS.c.start_ns // NS_PER_MINUTE


def flag_condition(table: Table, thresholds: Mapping[str, float]) -> Any:
    """Below a threshold (above, for WER): ``thresholds`` maps quality metrics to limits."""
    conds = []
    for metric, limit in thresholds.items():
        col = table.c[metric]
        conds.append(col < limit if _VOCABULARY[metric].higher_is_better else col > limit)
    return or_(*conds) if conds else false()


def _source(measure: str) -> tuple[Table, Any, Any]:
    """Where a measure's values come from: its table, the value, and which rows hold one."""
    if measure == "runs":
        return RUNS, literal(0.0), true()
    if measure == "failed_runs":
        return RUNS, literal(0.0), RUNS.c.status != "ok"
    if measure == "turns":
        return TURNS, literal(0.0), true()
    if measure == "flagged":
        return TURNS, literal(0.0), flag_condition(TURNS, FLAG_THRESHOLDS)
    col = TURNS.c[measure]
    return TURNS, col, col.is_not(None)


def code_of(value: float) -> int:
    """The bucket code of a value: 0 near zero, ``±(1 + i - I_MIN)`` otherwise (order-preserving)."""
    mag = abs(value)
    if mag < MIN_MS:
        return 0
    code = 1 + math.floor(math.log(mag) / _LN_GROWTH) - _I_MIN
    return code if value > 0 else -code


def value_of(code: int) -> float:
    """The value a bucket reads back as: the harmonic middle of its bounds."""
    if code == 0:
        return 0.0
    i = abs(code) - 1 + _I_MIN
    lo, hi = GROWTH**i, GROWTH ** (i + 1)
    mid = 2 * lo * hi / (lo + hi)
    return mid if code > 0 else -mid


def _code_sql(col: Any) -> Any:
    """``code_of`` in SQL (``ln`` and ``floor`` exist on PostgreSQL and SQLite 3.35+)."""

    def pos(v: Any) -> Any:
        return 1 + cast(func.floor(func.ln(v) / _LN_GROWTH), BigInteger) - _I_MIN

    return case(
        (func.abs(col) < MIN_MS, 0),
        (col > 0, pos(col)),
        else_=-pos(-col),
    )


@dataclass
class Merged:
    """Turns of one measure merged over some minutes: exact count and sum, bucket counts."""

    n: int = 0
    total: float = 0.0
    buckets: Counter[int] = field(default_factory=Counter)

    def add_row(self, n: int, total: float, counts: str | list[int], sign: int = 1) -> None:
        """Add a stored row (``sign`` -1: take it away, the minutes of a cut hour)."""
        self.n += sign * n
        self.total += sign * total
        flat = json.loads(counts) if isinstance(counts, str) else counts
        b = self.buckets
        for i in range(0, len(flat), 2):
            b[flat[i]] += sign * flat[i + 1]

    def add_value(self, v: float) -> None:
        self.n += 1
        self.total += v
        self.buckets[code_of(v)] += 1

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n else None

    def quantiles(self, qs: Sequence[float]) -> list[float | None]:
        """Nearest-rank quantiles (rank ``ceil(q n)``, as the exact path), from the buckets."""
        if not self.n:
            return [None for _ in qs]
        ranks = [max(1, math.ceil(q * self.n)) for q in qs]
        out: list[float | None] = [None] * len(qs)
        seen = 0
        pending = sorted(range(len(qs)), key=lambda k: ranks[k])
        j = 0
        for code in sorted(self.buckets):
            seen += max(0, self.buckets[code])
            while j < len(pending) and ranks[pending[j]] <= seen:
                out[pending[j]] = value_of(code)
                j += 1
            if j == len(pending):
                break
        return out


def _encode(buckets: Counter[int]) -> str:
    flat: list[int] = []
    for code in sorted(buckets):
        flat += (code, buckets[code])
    return json.dumps(flat, separators=(",", ":"))


def _key_prefix(width: int, measures: Sequence[str] = MEASURES) -> list[Any]:
    # Both columns that lead the primary key, so a minute range is an index range.
    return [HISTOGRAMS.c.width == width, HISTOGRAMS.c.measure.in_(measures)]


def recompute_span_minutes(conn: Connection, start: int | None, end: int | None) -> int | None:
    """Replace the stage span rows of minutes ``[start, end)`` (None: unbounded) from raw spans.

    Returns the last minute written (None when the range held no stage spans).
    """
    cond = _key_prefix(MINUTE, STAGE_MEASURES)
    if start is not None:
        cond.append(HISTOGRAMS.c.minute >= start)
    if end is not None:
        cond.append(HISTOGRAMS.c.minute < end)
    conn.execute(delete(HISTOGRAMS).where(*cond))
    minute, duration = span_minute(), _duration_ms()
    q = select(
        SPANS.c.name, minute.label("minute"), _code_sql(duration).label("code"),
        func.count(), func.sum(duration),
    ).where(SPANS.c.name.in_(STAGES))  # fmt: skip
    if start is not None:
        q = q.where(SPANS.c.start_ns >= start * NS_PER_MINUTE)
    if end is not None:
        q = q.where(SPANS.c.start_ns < end * NS_PER_MINUTE)
    rows: dict[tuple[Any, ...], Merged] = {}
    for name, m, code, n, total in conn.execute(q.group_by(SPANS.c.name, minute, "code")):
        _tally(rows, (f"stage:{name}", int(m), "", "", "", ""), code, n, total)
    _insert(conn, MINUTE, rows)
    return max((key[1] for key in rows), default=None)


def recompute_minutes(
    conn: Connection, dialect: str, start: int | None, end: int | None
) -> int | None:
    """Replace the per-minute rows of minutes ``[start, end)`` (None: unbounded) from raw turns.

    Returns the last minute written (None when the range held no turns).
    """
    cond = _key_prefix(MINUTE)
    if start is not None:
        cond.append(HISTOGRAMS.c.minute >= start)
    if end is not None:
        cond.append(HISTOGRAMS.c.minute < end)
    conn.execute(delete(HISTOGRAMS).where(*cond))
    branches = []
    for m in MEASURES:
        table, col, held = _source(m)
        minute = minute_of(table.c.started_at, dialect)
        dims = [table.c[d] for d in DIMS]
        if m in COUNTS:
            # A count's values are all 0: no bucket code to compute per row.
            code: Any = literal(0)
            q = select(
                literal(m).label("measure"), minute.label("minute"), *dims, code.label("code"),
                func.count().label("n"), literal(0.0).label("s"),
            ).where(held)  # fmt: skip
            group: list[Any] = [minute, *dims]
        else:
            q = select(
                literal(m).label("measure"), minute.label("minute"), *dims,
                _code_sql(col).label("code"), func.count().label("n"), func.sum(col).label("s"),
            ).where(held)  # fmt: skip
            group = [minute, *dims, "code"]
        if start is not None:
            q = q.where(table.c.started_at >= minute_start(start))
        if end is not None:
            q = q.where(table.c.started_at < minute_start(end))
        branches.append(q.group_by(*group))
    rows: dict[tuple[Any, ...], Merged] = {}
    for measure, m, *rest in conn.execute(union_all(*branches)):
        *dim_values, code, n, total = rest
        _tally(rows, (measure, int(m), *dim_values), code, n, total)
    _insert(conn, MINUTE, rows)
    return max((key[1] for key in rows), default=None)


def _tally(rows: dict[tuple[Any, ...], Merged], key: tuple[Any, ...], code: Any, n: Any,
           total: Any) -> None:  # fmt: skip
    """Add one grouped row (``n`` values of bucket ``code`` summing to ``total``) to ``key``'s."""
    got = rows.get(key)
    if got is None:
        got = rows[key] = Merged()
    got.n += int(n)
    got.total += float(total or 0.0)
    got.buckets[int(code)] += int(n)


def recompute_hours(
    conn: Connection, hours: Iterable[int], measures: Sequence[str] = MEASURES
) -> None:
    """Replace the per-hour rows of ``hours`` (hour numbers) by merging their minute rows."""
    for lo, hi in _runs(sorted(set(hours))):
        conn.execute(
            delete(HISTOGRAMS).where(
                *_key_prefix(HOUR, measures),
                HISTOGRAMS.c.minute >= lo * HOUR,
                HISTOGRAMS.c.minute < hi * HOUR,
            )
        )
        q = select(
            HISTOGRAMS.c.measure, HISTOGRAMS.c.minute, *[HISTOGRAMS.c[d] for d in DIMS],
            HISTOGRAMS.c.n, HISTOGRAMS.c.total, HISTOGRAMS.c.counts,
        ).where(
            *_key_prefix(MINUTE, measures),
            HISTOGRAMS.c.minute >= lo * HOUR,
            HISTOGRAMS.c.minute < hi * HOUR,
        )  # fmt: skip
        rows: dict[tuple[Any, ...], Merged] = {}
        for measure, m, *rest in conn.execute(q):
            *dim_values, n, total, counts = rest
            key = (measure, int(m) // HOUR * HOUR, *dim_values)
            got = rows.get(key)
            if got is None:
                got = rows[key] = Merged()
            got.add_row(int(n), float(total), counts)
        _insert(conn, HOUR, rows)


def _insert(conn: Connection, width: int, rows: dict[tuple[Any, ...], Merged]) -> None:
    values = [
        {"width": width, "measure": key[0], "minute": key[1],
         **dict(zip(DIMS, key[2:], strict=True)),
         "n": got.n, "total": got.total, "counts": _encode(got.buckets)}
        for key, got in rows.items()
    ]  # fmt: skip
    for i in range(0, len(values), 5000):
        conn.execute(insert(HISTOGRAMS), values[i : i + 5000])


def _read(
    conn: Connection,
    measures: Sequence[str],
    width: int,
    spans: Sequence[tuple[int, int]],
    filters: Mapping[str, str | None],
    buckets: bool = True,
) -> Iterator[Any]:
    """Rows ``(measure, minute, *DIMS, n, total, counts)`` of ``width`` in minute ``spans``.

    One UNION ALL branch per span, each a range of the primary key: an OR of
    ranges would let the planner scan every row of the measure instead.
    ``buckets`` False reads ``counts`` as an empty list (nothing to decode).
    """
    h = HISTOGRAMS
    cond = [h.c.width == width, h.c.measure.in_(list(measures))]
    cond += [h.c[d] == v for d, v in filters.items() if v]
    counts = h.c.counts if buckets else literal("[]").label("counts")
    cols = [h.c.measure, h.c.minute, *[h.c[d] for d in DIMS], h.c.n, h.c.total, counts]
    for i in range(0, len(spans), 200):
        branches = [
            select(*cols).where(*cond, h.c.minute >= lo, h.c.minute < hi)
            for lo, hi in spans[i : i + 200]
        ]
        yield from conn.execute(branches[0] if len(branches) == 1 else union_all(*branches))


def count_hours(
    conn: Connection,
    measures: Sequence[str],
    since: datetime,
    until: datetime,
    filters: Mapping[str, str | None],
) -> int:
    """Values of ``measures`` in the whole hours of ``[since, until)``: one sum, no lists read."""
    h = HISTOGRAMS
    lo, hi = -(-ceil_minute(since) // HOUR) * HOUR, floor_minute(until) // HOUR * HOUR
    cond = [h.c.width == HOUR, h.c.measure.in_(list(measures)), h.c.minute >= lo, h.c.minute < hi]
    cond += [h.c[d] == v for d, v in filters.items() if v]
    return int(conn.execute(select(func.coalesce(func.sum(h.c.n), 0)).where(*cond)).scalar() or 0)


def _runs(items: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted integers -> half-open ranges of consecutive ones."""
    out: list[tuple[int, int]] = []
    for x in items:
        if out and x == out[-1][1]:
            out[-1] = (out[-1][0], x + 1)
        else:
            out.append((x, x + 1))
    return out


def sum_range(
    conn: Connection,
    dialect: str,
    measures: Sequence[str],
    since: datetime,
    until: datetime,
    filters: Mapping[str, str | None],
    group: Callable[[Sequence[str]], str],
) -> dict[tuple[str, str], Merged]:
    """Count and sum of each measure in ``[since, until)`` per group, exact; no bucket list read.

    What a headline figure needs (calls, failed calls, turns, a mean): the whole
    hours and minutes are summed by the database, grouped by measure and
    dimensions (a few dozen rows back instead of one per hour and series), and
    the partial minutes at the edges come from the raw rows. The ``Merged``
    values hold ``n`` and ``total`` only.
    """
    first, last = ceil_minute(since), floor_minute(until)
    out: dict[tuple[str, str], Merged] = {}

    def into(measure: str, dims: Sequence[str]) -> Merged:
        key = (measure, group(dims))
        got = out.get(key)
        if got is None:
            got = out[key] = Merged()
        return got

    pieces: list[tuple[int, int, int]] = []
    if first < last:
        h_lo, h_hi = -(-first // HOUR) * HOUR, last // HOUR * HOUR
        if h_lo < h_hi:
            pieces += [(HOUR, h_lo, h_hi), (MINUTE, first, h_lo), (MINUTE, h_hi, last)]
        else:
            pieces.append((MINUTE, first, last))
    h = HISTOGRAMS
    dims_cols = [h.c[d] for d in DIMS]
    for width, lo, hi in pieces:
        if lo >= hi:
            continue
        cond = [h.c.width == width, h.c.measure.in_(list(measures)), h.c.minute >= lo,
                h.c.minute < hi, *[h.c[d] == v for d, v in filters.items() if v]]  # fmt: skip
        q = select(h.c.measure, *dims_cols, func.sum(h.c.n), func.sum(h.c.total)).where(*cond)
        for measure, *rest in conn.execute(q.group_by(h.c.measure, *dims_cols)):
            *dims, n, total = rest
            got = into(measure, dims)
            got.n += int(n or 0)
            got.total += float(total or 0.0)
    raw = [(since, until)] if first >= last else [
        (since, minute_start(first)), (minute_start(last), until)
    ]  # fmt: skip
    raw = [(lo, hi) for lo, hi in raw if lo < hi]
    for _epoch, measure, edge_dims, v in _raw_values(conn, dialect, measures, raw, filters):
        got = into(measure, edge_dims)
        got.n += 1
        got.total += v
    return out


def merge_range(
    conn: Connection,
    dialect: str,
    measures: Sequence[str],
    since: datetime,
    until: datetime,
    bucket_s: int,
    filters: Mapping[str, str | None],
    group: Callable[[Sequence[str]], str],
    *,
    buckets: bool = True,
) -> dict[tuple[str, int, str], Merged]:
    """Turns in ``[since, until)`` merged per (measure, time bucket, group).

    ``buckets`` False merges counts and sums only (means, not percentiles):
    no bucket list is decoded.

    Time buckets are ``(epoch second - since) // bucket_s``, as the exact path
    cuts them. Hours wholly inside one bucket come from the hour rows, other
    whole minutes inside one bucket from the minute rows, and the seconds left
    (the range's partial edge minutes, minutes a bucket boundary cuts) from
    the raw turns, so counts and means are exact and only the bucket values
    are approximate. ``filters`` maps a dimension (``DIMS``) to its value;
    ``group`` names the group of a row's dimension values.
    """
    s0 = int(since.timestamp())

    def bucket(second: int) -> int:
        return (second - s0) // bucket_s

    def whole(minute: int, width: int) -> bool:
        return bucket(minute * 60) == bucket((minute + width) * 60 - 1)

    first, last = ceil_minute(since), floor_minute(until)
    # What each stored row is added to: (bucket, +1) or taken from: (bucket, -1).
    hour_plan: dict[int, int] = {}
    minute_plan: dict[int, list[tuple[int, int]]] = {}
    cut: list[int] = []
    covered: set[int] = set()
    for h in range(-(-first // HOUR), last // HOUR):
        lo = h * HOUR
        if whole(lo, HOUR):
            hour_plan[lo] = bucket(lo * 60)
            covered.add(h)
        elif bucket_s >= 3600:
            # One boundary cuts the hour: its hour row goes to the bigger side, minus the
            # minutes of the smaller side (read, and added to theirs) and minus the minute
            # the boundary falls inside, if any (read raw): ~4x fewer rows than 60 minutes.
            edge = s0 + (bucket(lo * 60) + 1) * bucket_s  # the boundary, in seconds
            cm, inside = divmod(edge - lo * 60, 60)
            before = list(range(lo, lo + cm))
            after = list(range(lo + cm + (1 if inside else 0), lo + HOUR))
            small, big = (before, after) if len(before) <= len(after) else (after, before)
            big_b = bucket(big[0] * 60) if big else bucket(lo * 60)
            hour_plan[lo] = big_b
            for m in small:
                minute_plan[m] = [(bucket(m * 60), 1), (big_b, -1)]
            if inside:
                minute_plan[lo + cm] = [(big_b, -1)]
                cut.append(lo + cm)
            covered.add(h)
    for m in range(first, max(first, last)):
        if m // HOUR in covered:
            continue
        if whole(m, MINUTE):
            minute_plan[m] = [(bucket(m * 60), 1)]
        else:
            cut.append(m)
    cut.sort()
    out: dict[tuple[str, int, str], Merged] = {}

    def into(measure: str, b: int, dims: Sequence[str]) -> Merged:
        key = (measure, b, group(dims))
        got = out.get(key)
        if got is None:
            got = out[key] = Merged()
        return got

    hour_spans = [
        (lo * HOUR, hi * HOUR) for lo, hi in _runs(sorted(lo // HOUR for lo in hour_plan))
    ]
    for measure, minute, *rest in _read(conn, measures, HOUR, hour_spans, filters, buckets):
        *dims, n, total, counts = rest
        into(measure, hour_plan[int(minute)], dims).add_row(int(n), float(total), counts)
    for measure, minute, *rest in _read(
        conn, measures, MINUTE, _runs(sorted(minute_plan)), filters, buckets
    ):
        *dims, n, total, counts = rest
        flat = json.loads(counts)
        for b, sign in minute_plan[int(minute)]:
            into(measure, b, dims).add_row(int(n), float(total), flat, sign)
    raw: list[tuple[datetime, datetime]] = []
    if first >= last:
        raw.append((since, until))
    else:
        if since < minute_start(first):
            raw.append((since, minute_start(first)))
        raw += [(minute_start(lo), minute_start(hi)) for lo, hi in _runs(cut)]
        if minute_start(last) < until:
            raw.append((minute_start(last), until))
    for epoch, measure, dims, v in _raw_values(conn, dialect, measures, raw, filters):
        into(measure, bucket(epoch), dims).add_value(v)
    return out


def _raw_values(
    conn: Connection,
    dialect: str,
    measures: Sequence[str],
    ranges: Sequence[tuple[datetime, datetime]],
    filters: Mapping[str, str | None],
) -> Iterator[tuple[int, str, Sequence[str], float]]:
    """Every value of ``measures`` in ``ranges`` from the raw rows: (epoch second, measure, dims, value).

    Stage spans (one series: empty dimensions), turns and calls, each from its table.
    """
    if not ranges:
        return
    stages = [m for m in measures if m in STAGE_MEASURES]
    for epoch, name, v in _raw_spans(conn, stages, ranges) if stages else ():
        yield int(epoch), f"stage:{name}", ("", "", "", ""), float(v)
    for table in (TURNS, RUNS):
        of_table = [m for m in measures if m not in STAGE_MEASURES and _source(m)[0] is table]
        for epoch, *rest in _raw(conn, dialect, table, of_table, ranges, filters) if of_table else ():
            dims = rest[: len(DIMS)]
            for measure, v in zip(of_table, rest[len(DIMS) :], strict=True):
                if v is not None:
                    yield int(epoch), measure, dims, float(v)


def _ns(at: datetime) -> int:
    """Nanoseconds since 1970, exactly (a float timestamp times 1e9 is off by hundreds)."""
    return (at - _EPOCH) // timedelta(microseconds=1) * 1000


def _raw_spans(
    conn: Connection, measures: Sequence[str], ranges: Sequence[tuple[datetime, datetime]]
) -> Iterator[Any]:
    """Raw stage spans in ``ranges``: epoch second of their start, stage, duration in ms."""
    names = [m.removeprefix("stage:") for m in measures]
    cols = [SPANS.c.start_ns // 1_000_000_000, SPANS.c.name, _duration_ms()]
    for i in range(0, len(ranges), 200):
        branches = [
            select(*cols).where(
                SPANS.c.name.in_(names),
                SPANS.c.start_ns >= _ns(lo),
                SPANS.c.start_ns < _ns(hi),
            )
            for lo, hi in ranges[i : i + 200]
        ]
        if branches:
            yield from conn.execute(branches[0] if len(branches) == 1 else union_all(*branches))


def _raw(
    conn: Connection,
    dialect: str,
    t: Table,
    measures: Sequence[str],
    ranges: Sequence[tuple[datetime, datetime]],
    filters: Mapping[str, str | None],
) -> Iterator[Any]:
    """Raw rows of ``t`` in ``ranges``: epoch second, dimensions, then each measure (None: not held)."""
    values = []
    for m in measures:
        _table, col, held = _source(m)
        values.append(col if m not in COUNTS else case((held, col), else_=None))
    cols = [epoch_seconds(t.c.started_at, dialect), *[t.c[d] for d in DIMS], *values]
    cond = [t.c[d] == v for d, v in filters.items() if v]
    for i in range(0, len(ranges), 200):
        branches = [
            select(*cols).where(*cond, t.c.started_at >= lo, t.c.started_at < hi)
            for lo, hi in ranges[i : i + 200]
        ]
        if branches:
            yield from conn.execute(branches[0] if len(branches) == 1 else union_all(*branches))


__all__ = [
    "COUNTS",
    "DIMS",
    "FLAG_THRESHOLDS",
    "GROWTH",
    "HOUR",
    "LATENCY",
    "MEASURES",
    "MINUTE",
    "MIN_MS",
    "NS_PER_MINUTE",
    "RELATIVE_ERROR",
    "STAGES",
    "STAGE_MEASURES",
    "Merged",
    "code_of",
    "count_hours",
    "definition",
    "flag_condition",
    "merge_range",
    "recompute_hours",
    "recompute_minutes",
    "recompute_span_minutes",
    "span_definition",
    "span_minute",
    "sum_range",
    "value_of",
]
