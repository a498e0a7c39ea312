"""Aggregations the dashboard draws: percentiles over time, stage breakdowns, quality, capacity.

A page must render in well under two seconds over a million stored turns, so
every function here aggregates in SQL and returns only aggregated rows (a few
hundred at most), never the turns themselves. SQLite has no percentile
function; percentiles are exact nearest-rank order statistics computed with
window functions (``ROW_NUMBER`` and ``COUNT`` per group), which SQLite and
PostgreSQL both run, so the two backends give the same numbers. Filters use
the ``(column, started_at)`` indexes the store keeps on turns and runs.

Ranges of ``ROLLUP_FROM`` (6 h) or more read latency percentiles from the
per-minute and per-hour histograms instead (``voiceobs.store.histograms``):
counts and means stay exact, each percentile is within 1 % of the exact one,
and a 30-day chart merges a few thousand rows instead of sorting every turn.
Shorter ranges, and measures the histograms do not keep, stay exact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, and_, case, cast, func, literal, or_, select
from sqlalchemy.sql import ColumnElement

from voiceobs.errors import VoiceObsError
from voiceobs.measures import DYNAMICS_MEASURES, LATENCY_MEASURES, MEASURES
from voiceobs.measures import QUALITY_METRICS as _QUALITY
from voiceobs.results import utcnow
from voiceobs.store import histograms, rollups
from voiceobs.store.filters import epoch_seconds, where_runs
from voiceobs.store.models import ProbeRun, SloEvaluation, SloRollupState, Span, Turn
from voiceobs.store.repository import Store

#: Stages a pipeline reports, in the order a turn passes through them.
STAGES: tuple[str, ...] = histograms.STAGES

#: The attribute that drives each stage's cost (docs/architecture.md, Spans).
STAGE_DRIVERS: dict[str, str] = {
    "vad": "voice.audio_seconds",
    "asr": "voice.audio_seconds",
    "respond": "voice.context_tokens",
    "tts": "voice.output_chars",
}

#: Quality measures and whether higher is better (from the vocabulary).
QUALITY_METRICS: dict[str, bool] = {m: MEASURES[m].higher_is_better for m in _QUALITY}

#: Thresholds below which (above, for WER) a turn is flagged, until a user changes them.
DEFAULT_QUALITY_THRESHOLDS: dict[str, float] = histograms.FLAG_THRESHOLDS

_NICE_BUCKETS = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400)

#: Ranges at least this long read percentiles from the latency histograms.
ROLLUP_FROM = timedelta(hours=6)
#: A range holding fewer turns than this is sorted exactly, whatever its length: reading
#: and sorting 50,000 turns costs about what merging a day of minute histograms does
#: (benchmarks/dashboard). It is the turns that count, not the values of the measure: the
#: exact path reads every turn of the range to find a sparse measure's few values.
EXACT_UNDER = 50_000
#: The Capacity page fits the newest this many spans of a stage (bounded cost at any range).
CAPACITY_SAMPLE = 50_000
#: A page asks several percentile questions in a row; one refresh serves them all.
REFRESH_EVERY = timedelta(seconds=10)


@dataclass(frozen=True)
class Filters:
    """What a page is looking at: a time range and optional probe, target, region, source."""

    since: datetime
    until: datetime
    probe: str | None = None
    target: str | None = None
    region: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class Dimensions:
    """The probes, targets and regions present, for filter drop-downs."""

    probes: list[str]
    targets: list[str]
    regions: list[str]


@dataclass(frozen=True)
class PercentileRow:
    """Percentiles of one measure in one time bucket for one group."""

    bucket_start: datetime
    group: str
    count: int
    mean: float | None
    p50: float | None
    p95: float | None
    p99: float | None


@dataclass(frozen=True)
class RunSummary:
    """One probe run as the Calls list shows it: how it ended and what the caller got."""

    id: str
    started_at: datetime
    probe_name: str
    target_url: str
    region: str
    status: str
    failure_class: str | None
    turns: int
    latency_max_ms: float | None
    latency_mean_ms: float | None
    pesq_wb_min: float | None
    stoi_min: float | None
    wer_max: float | None
    source: str = "synthetic"
    reported_max_ms: float | None = None
    joined_run_id: str | None = None


@dataclass(frozen=True)
class CapacityBin:
    """Latency of one stage over spans whose cost driver falls in one range."""

    driver_lo: float
    driver_hi: float
    count: int
    mean_ms: float
    p95_ms: float


@dataclass(frozen=True)
class CapacityFit:
    """Stage latency as a line in its cost driver, and where p95 would cross a target.

    ``slope``/``intercept`` fit every span (least squares, in SQL);
    ``p95_slope``/``p95_intercept`` fit the per-bin p95s, weighted by their
    counts, which is what a p95 latency target is judged against.
    """

    stage: str
    driver: str
    n: int
    slope: float | None
    intercept: float | None
    r2: float | None
    p95_slope: float | None
    p95_intercept: float | None
    bins: list[CapacityBin] = field(default_factory=list)
    #: Spans of the stage in range (``n`` of them, the newest, were fitted).
    spans_in_range: int = 0

    def crossing_load(self, p95_target_ms: float) -> float | None:
        """The driver value at which the fitted p95 reaches ``p95_target_ms``.

        None when latency does not grow with load (no crossing ahead), and 0
        when the target is already exceeded at no load.
        """
        if self.p95_slope is None or self.p95_intercept is None:
            return None
        if self.p95_intercept >= p95_target_ms:
            return 0.0
        if self.p95_slope <= 0:
            return None
        return (p95_target_ms - self.p95_intercept) / self.p95_slope


def pick_bucket_seconds(since: datetime, until: datetime, target_points: int = 60) -> int:
    """A round bucket size giving about ``target_points`` points over the range."""
    span = max((until - since).total_seconds(), 60.0)
    for size in _NICE_BUCKETS:
        if span / size <= target_points:
            return size
    return _NICE_BUCKETS[-1] * max(1, int(span / _NICE_BUCKETS[-1] / target_points))


#: Bucket sizes a chart may use (seconds), finest first: round numbers an SRE reads at a glance.
_FIT_BUCKETS = (10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 2 * 3600, 3 * 3600, 6 * 3600,
                12 * 3600, 86400, 2 * 86400, 7 * 86400)  # fmt: skip


def fit_bucket_seconds(first: datetime, last: datetime, target_points: int = 30) -> int:
    """The bucket size for a chart of data spanning ``first`` to ``last``.

    Sized to the data actually there, not to the range asked for: half an hour
    of data in a 24 h range gets one-minute buckets (30 points), not one
    half-hour bucket drawn as a dot. The largest round size that still gives
    at least ``target_points`` buckets; when the data spans too little for
    that, the finest size (10 s).
    """
    span = max((last - first).total_seconds(), 0.0)
    fitting = [size for size in _FIT_BUCKETS if span / size >= target_points]
    return fitting[-1] if fitting else _FIT_BUCKETS[0]


def data_extent(store: Store, f: Filters) -> tuple[datetime, datetime] | None:
    """When the first and last turn in range started; None when there are none."""
    # Two index probes: SQLite answers MIN/MAX under a range filter by reading the whole
    # range (0.5 s over 30 days of a million turns), ORDER BY ... LIMIT 1 by one seek.
    q = _where(select(Turn.started_at), Turn, f)
    with store.session() as s:
        first = s.scalar(q.order_by(Turn.started_at).limit(1))
        last = s.scalar(q.order_by(Turn.started_at.desc()).limit(1))
    if first is None or last is None:
        return None
    return first, last


def chart_bucket_seconds(store: Store, f: Filters, target_points: int = 30) -> int:
    """The bucket size for the charts of a page: fitted to the turns in range."""
    extent = data_extent(store, f)
    if extent is None:
        return pick_bucket_seconds(f.since, f.until, target_points)
    return fit_bucket_seconds(*extent, target_points=target_points)


def _epoch(store: Store, column: Any) -> ColumnElement[int]:
    return epoch_seconds(column, store.backend)


def _bucket(store: Store, column: Any, since: datetime, bucket_s: int) -> Any:
    # Floor division in SQL (``//``): true division would put every row in its own bucket.
    return (_epoch(store, column) - int(since.timestamp())) // bucket_s


def _bucket_start(since: datetime, bucket_s: int, bucket: int) -> datetime:
    start = datetime.fromtimestamp(int(since.timestamp()), UTC)
    return start + timedelta(seconds=int(bucket) * bucket_s)


def _where(q: Any, model: Any, f: Filters) -> Any:
    return where_runs(
        q, model, since=f.since, until=f.until, probe=f.probe, target=f.target, region=f.region,
        source=f.source,
    )  # fmt: skip


def _group_column(model: Any, group_by: str) -> ColumnElement[str]:
    if group_by == "target":
        return model.target_url
    if group_by == "region":
        return model.region
    if group_by == "probe":
        return model.probe_name
    if group_by == "target_region":
        return model.target_url + " · " + model.region
    if group_by == "source":
        return model.source
    if group_by == "all":
        return literal("all")
    raise ValueError(
        f"unknown group_by {group_by!r}; use target, region, probe, target_region, source, all"
    )


def _ranked_percentiles(base: Any, keys: Sequence[str], quantiles: Sequence[float]) -> Any:
    """Nearest-rank quantiles of ``base.c.v`` per ``keys``, in one pass of window functions."""
    part = [base.c[k] for k in keys]
    ranked = select(
        *part,
        base.c.v,
        func.row_number().over(partition_by=part, order_by=base.c.v).label("rn"),
        func.count().over(partition_by=part).label("n"),
    ).subquery()
    picks = [
        func.max(
            case(
                (
                    and_(ranked.c.rn >= q * ranked.c.n, ranked.c.rn - 1 < q * ranked.c.n),
                    ranked.c.v,
                ),
                else_=None,
            )
        )
        for q in quantiles
    ]
    cols = [ranked.c[k] for k in keys]
    return select(*cols, func.max(ranked.c.n), func.avg(ranked.c.v), *picks).group_by(*cols)


def dimensions(store: Store) -> Dimensions:
    """Distinct probes, targets and regions of the stored calls, for the filter drop-downs."""
    with store.session() as s:
        probes, targets, regions = (
            _distinct(s, col) for col in (ProbeRun.probe_name, ProbeRun.target_url, ProbeRun.region)
        )
    return Dimensions(sorted(probes), sorted(targets), sorted(regions))


def _distinct(s: Any, col: Any) -> list[str]:
    """The distinct values of an indexed column, one index seek each (a "loose index scan").

    ``SELECT DISTINCT`` reads every row: 5.7 s for three columns of 5 million calls
    on PostgreSQL (benchmarks/dashboard/bench_queries.py). Walking up the ``(column, started_at)`` index with ``min(col)
    WHERE col > previous`` costs one seek per value, and there are a handful.
    """
    walk = select(func.min(col).label("v")).cte("walk", recursive=True)
    walk = walk.union_all(
        select(select(func.min(col)).where(col > walk.c.v).scalar_subquery()).where(
            walk.c.v.is_not(None)
        )
    )
    return [str(v) for v in s.scalars(select(walk.c.v).where(walk.c.v.is_not(None)))]


def _counted(
    store: Store, f: Filters, measures: Sequence[str], group_by: str
) -> dict[str, dict[str, histograms.Merged]] | None:
    """``measures`` over the whole range per group, from the histograms; None: ask the rows.

    Counts and means read this way are exact, so only the range decides: a long
    one reads hour rows instead of every turn and call of the range.
    """
    if f.until - f.since < ROLLUP_FROM or not _fresh_histograms(store):
        return None
    with store.engine.connect() as conn:
        got = histograms.sum_range(
            conn, store.backend, measures, f.since, f.until, _dims_filter(f), _group_of(group_by)
        )
    out: dict[str, dict[str, histograms.Merged]] = {}
    for (measure, grp), merged in got.items():
        out.setdefault(grp, {})[measure] = merged
    return out


def _counts_of(store: Store, f: Filters, measures: Sequence[str]) -> dict[str, int] | None:
    """How many values of each measure the range holds, from the histograms; None: ask the rows."""
    held = _counted(store, f, measures, "all") if measures else None
    if held is None:
        return None
    got = held.get("all", {})
    return {m: got[m].n if m in got else 0 for m in measures}


def counts(store: Store, f: Filters) -> dict[str, int]:
    """Runs, failed runs and turns in range: the headline figures of a page."""
    held = _counts_of(store, f, ("runs", "failed_runs", "turns"))
    if held is not None:
        return held
    runs_q = _where(
        select(
            func.count(),
            func.coalesce(func.sum(case((ProbeRun.status != "ok", 1), else_=0)), 0),
        ),
        ProbeRun,
        f,
    )
    turns_q = _where(select(func.count()).select_from(Turn), Turn, f)
    with store.session() as s:
        runs, failed = s.execute(runs_q).one()
        turns = s.scalar(turns_q) or 0
    return {"runs": int(runs or 0), "failed_runs": int(failed or 0), "turns": int(turns)}


def measured(store: Store, f: Filters, measures: Sequence[str]) -> dict[str, int]:
    """How many turns in range carry each measure: one scan, so a page skips what was never measured."""
    unknown = [m for m in measures if m not in MEASURES]
    if unknown:
        raise ValueError(f"unknown measure(s) {', '.join(unknown)}")
    # Counts from the histograms are exact, so no range is too small for them; a long
    # range holding none of the measures (most hold no barge-in) must not scan the turns.
    held = _counts_of(store, f, measures)
    if held is not None:
        return held
    q = _where(select(*[func.count(getattr(Turn, m)) for m in measures]), Turn, f)
    with store.session() as s:
        row = s.execute(q).one()
    return {m: int(n or 0) for m, n in zip(measures, row, strict=True)}


def by_source(store: Store, f: Filters, *, exact: bool | None = None) -> list[dict[str, Any]]:
    """Production and synthetic side by side: per source, calls, failed calls, turns and latency.

    Latency is the p50 and p95 of what the caller heard (``turn_latency_ms``)
    and of what the bot reported (``reported_latency_ms``) over the range.
    Both sources are always listed, with zeros when one has no calls.
    """
    runs_q = _where(
        select(
            ProbeRun.source,
            func.count(),
            func.coalesce(func.sum(case((ProbeRun.status != "ok", 1), else_=0)), 0),
        ),
        ProbeRun,
        f,
    ).group_by(ProbeRun.source)
    out: dict[str, dict[str, Any]] = {
        src: {"source": src, "runs": 0, "failed_runs": 0, "turns": 0}
        for src in ("production", "synthetic")
        if f.source in (None, src)
    }
    for row in out.values():
        for m in ("turn_latency_ms", "reported_latency_ms"):
            row[f"{m}_p50"] = row[f"{m}_p95"] = None
    held = _counted(store, f, ("runs", "failed_runs", "turns"), "source")
    for src, counted in (held or {}).items():
        if src in out:
            out[src].update({k: v.n for k, v in counted.items()})
    with store.session() as s:
        for src, runs, failed in s.execute(runs_q).all() if held is None else ():
            if src in out:
                out[src].update(runs=int(runs), failed_runs=int(failed or 0))
        heard = ("turn_latency_ms", "reported_latency_ms")
        merged = _from_histograms(store, f, heard, _whole_range_bucket(f), "source", exact)
        for (measure, _b, src), got in (merged or {}).items():
            p50, p95 = got.quantiles((0.5, 0.95))
            if src in out:
                out[src].update({f"{measure}_p50": p50, f"{measure}_p95": p95})
        for measure in heard if merged is None else ():
            value = getattr(Turn, measure)
            base = _where(
                select(Turn.source.label("src"), value.label("v")).where(value.is_not(None)),
                Turn,
                f,
            ).subquery()
            for src, _n, _mean, p50, p95 in s.execute(
                _ranked_percentiles(base, ["src"], (0.5, 0.95))
            ).all():
                if src in out:
                    out[src].update({f"{measure}_p50": _f(p50), f"{measure}_p95": _f(p95)})
        # One count per source, each a range of the (source, started_at) index alone:
        # grouping by source over the started_at index reads every turn row of the range.
        for src in out if held is None else ():
            n = s.scalar(
                _where(select(func.count()).select_from(Turn), Turn, replace(f, source=src))
            )
            out[src]["turns"] = int(n or 0)
    return list(out.values())


def _whole_range_bucket(f: Filters) -> int:
    """A bucket size (whole minutes) that puts the whole range in one bucket."""
    return (int((f.until - f.since).total_seconds()) // 60 + 2) * 60


def latest_run_at(store: Store) -> datetime | None:
    """When the newest run started; None for an empty store (the page then says how to start)."""
    with store.session() as s:
        return s.scalar(select(func.max(ProbeRun.started_at)))


def _from_histograms(
    store: Store,
    f: Filters,
    measures: Sequence[str],
    bucket_s: int,
    group_by: str,
    exact: bool | None,
    *,
    buckets: bool = True,
) -> dict[tuple[str, int, str], histograms.Merged] | None:
    """``measures`` merged from the histograms, or None where the exact path should answer.

    ``exact`` None decides by the range: under ``ROLLUP_FROM``, or holding fewer
    than ``EXACT_UNDER`` turns (reading and sorting those is cheap), stays exact.
    True is always exact; False reads the histograms whenever they keep the measures.
    """
    if exact or bucket_s % 60 or any(m not in histograms.MEASURES for m in measures):
        return None
    if exact is None and f.until - f.since < ROLLUP_FROM:
        return None
    if not _fresh_histograms(store):
        return None
    with store.engine.connect() as conn:
        if exact is None:
            # The hour rows' counts (no bucket lists read) say how many turns there are.
            held = histograms.count_hours(conn, ("turns",), f.since, f.until, _dims_filter(f))
            if held < EXACT_UNDER:
                return None
        return histograms.merge_range(
            conn, store.backend, measures, f.since, f.until, bucket_s, _dims_filter(f),
            _group_of(group_by), buckets=buckets,
        )  # fmt: skip


def _fresh_histograms(store: Store, *, spans: bool = False) -> bool:
    """Refresh the histograms unless nothing arrived since moments ago; False when it cannot.

    ``spans``: the stage span histograms (they follow span ids) instead of
    the turn ones. A read-only store user cannot refresh; its pages then
    stay on the exact path.
    """
    state = SloRollupState.__table__
    key = rollups.SPAN_HISTOGRAM_KEY if spans else rollups.HISTOGRAM_KEY
    newest = Span.id if spans else Turn.id
    try:
        with store.engine.connect() as conn:
            got = conn.execute(
                select(state.c.refreshed_at, state.c.turn_watermark).where(state.c.slo_key == key)
            ).first()
            head = conn.execute(select(func.max(newest))).scalar() or 0
        if got is not None and got[1] >= head and _aware(got[0]) > utcnow() - REFRESH_EVERY:
            return True
        (rollups.refresh_span_histograms if spans else rollups.refresh_histograms)(store)
    except VoiceObsError:
        return False
    return True


def _stage_histograms(
    store: Store, f: Filters, bucket_s: int, *, buckets: bool = True
) -> dict[tuple[str, int, str], histograms.Merged] | None:
    """Stage span durations per time bucket from the stage histograms; None: read the spans.

    They are kept in one series, so only an unfiltered view over a long range
    reads them (a filter goes through the calls' trace ids, on the spans).
    """
    if f.probe or f.target or f.region or f.source or bucket_s % 60:
        return None
    if f.until - f.since < ROLLUP_FROM or not _fresh_histograms(store, spans=True):
        return None
    with store.engine.connect() as conn:
        return histograms.merge_range(
            conn, store.backend, histograms.STAGE_MEASURES, f.since, f.until, bucket_s, {},
            lambda _dims: "all", buckets=buckets,
        )  # fmt: skip


def _aware(at: Any) -> datetime:
    parsed = datetime.fromisoformat(at) if isinstance(at, str) else at
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _dims_filter(f: Filters) -> dict[str, str | None]:
    return {"source": f.source, "probe_name": f.probe, "target_url": f.target, "region": f.region}


def _group_of(group_by: str) -> Any:
    """``_group_column`` in Python, over a histogram row's (source, probe, target, region)."""
    pick = {
        "target": lambda d: d[2],
        "region": lambda d: d[3],
        "probe": lambda d: d[1],
        "target_region": lambda d: f"{d[2]} · {d[3]}",
        "source": lambda d: d[0],
        "all": lambda d: "all",
    }
    if group_by not in pick:
        _group_column(Turn, group_by)  # the one-line error for an unknown grouping
    return pick[group_by]


def percentiles_over_time(
    store: Store,
    f: Filters,
    measure: str = "turn_latency_ms",
    *,
    bucket_s: int | None = None,
    group_by: str = "target_region",
    quantiles: tuple[float, float, float] = (0.5, 0.95, 0.99),
    exact: bool | None = None,
) -> list[PercentileRow]:
    """p50/p95/p99 of a turn measure per time bucket and group.

    Long ranges read the latency histograms (each percentile within 1 % of
    the exact one; count and mean exact); ``exact`` forces one path (see
    ``_from_histograms``).
    """
    if measure not in (*LATENCY_MEASURES, *QUALITY_METRICS, *DYNAMICS_MEASURES):
        raise ValueError(f"unknown measure {measure!r}")
    bucket_s = bucket_s or pick_bucket_seconds(f.since, f.until)
    merged = _from_histograms(store, f, (measure,), bucket_s, group_by, exact)
    if merged is not None:
        read = [
            PercentileRow(_bucket_start(f.since, bucket_s, b), grp, got.n, got.mean,
                          *got.quantiles(quantiles))
            for (_m, b, grp), got in merged.items()
        ]  # fmt: skip
        return sorted(read, key=lambda r: (r.bucket_start, r.group))
    value = getattr(Turn, measure)
    base = _where(
        select(
            _bucket(store, Turn.started_at, f.since, bucket_s).label("bucket"),
            _group_column(Turn, group_by).label("grp"),
            value.label("v"),
        ).where(value.is_not(None)),
        Turn,
        f,
    ).subquery()
    q = _ranked_percentiles(base, ["bucket", "grp"], quantiles)
    with store.session() as s:
        rows = s.execute(q).all()
    out = [
        PercentileRow(
            bucket_start=_bucket_start(f.since, bucket_s, r[0]),
            group=str(r[1]),
            count=int(r[2]),
            mean=_f(r[3]),
            p50=_f(r[4]),
            p95=_f(r[5]),
            p99=_f(r[6]),
        )
        for r in rows
    ]
    return sorted(out, key=lambda r: (r.bucket_start, r.group))


def stage_breakdown(store: Store, f: Filters) -> list[dict[str, Any]]:
    """Per stage: span count, mean, p50 and p95 duration in ms, over the spans in range.

    Long unfiltered ranges read the stage histograms (count and mean exact,
    p50 and p95 within 1 %).
    """
    order = {name: i for i, name in enumerate(STAGES)}
    merged = _stage_histograms(store, f, _whole_range_bucket(f))
    if merged is not None:
        read = []
        for (measure, _b, _g), got in merged.items():
            p50, p95 = got.quantiles((0.5, 0.95))
            read.append({"stage": measure.removeprefix("stage:"), "count": got.n,
                         "mean_ms": got.mean, "p50_ms": p50, "p95_ms": p95})  # fmt: skip
        return sorted(read, key=lambda d: order.get(d["stage"], 99))
    duration = (Span.end_ns - Span.start_ns) / 1e6
    base = _span_where(
        select(Span.name.label("stage"), duration.label("v")).where(Span.name.in_(STAGES)), f
    ).subquery()
    q = _ranked_percentiles(base, ["stage"], (0.5, 0.95))
    with store.session() as s:
        rows = s.execute(q).all()
    out = [
        {
            "stage": str(r[0]),
            "count": int(r[1]),
            "mean_ms": _f(r[2]),
            "p50_ms": _f(r[3]),
            "p95_ms": _f(r[4]),
        }
        for r in rows
    ]
    return sorted(out, key=lambda d: order.get(d["stage"], 99))


def stage_breakdown_over_time(
    store: Store, f: Filters, *, bucket_s: int | None = None
) -> list[dict[str, Any]]:
    """Mean duration of each stage per time bucket: the stacked bars of the Latency page."""
    bucket_s = bucket_s or pick_bucket_seconds(f.since, f.until, 30)
    merged = _stage_histograms(store, f, bucket_s, buckets=False)
    if merged is not None:
        read = [
            {"bucket_start": _bucket_start(f.since, bucket_s, b),
             "stage": measure.removeprefix("stage:"), "count": got.n, "mean_ms": got.mean}
            for (measure, b, _g), got in merged.items()
        ]  # fmt: skip
        return sorted(read, key=lambda d: (d["bucket_start"], d["stage"]))
    duration = (Span.end_ns - Span.start_ns) / 1e6
    bucket = ((Span.start_ns - _ns(f.since)) // (bucket_s * 1_000_000_000)).label("bucket")
    q = _span_where(
        select(bucket, Span.name, func.count(), func.avg(duration)).where(Span.name.in_(STAGES)),
        f,
    ).group_by("bucket", Span.name)
    with store.session() as s:
        rows = s.execute(q).all()
    return [
        {
            "bucket_start": _bucket_start(f.since, bucket_s, r[0]),
            "stage": str(r[1]),
            "count": int(r[2]),
            "mean_ms": _f(r[3]),
        }
        for r in rows
    ]


def _ns(at: datetime) -> int:
    return int(at.timestamp()) * 1_000_000_000


def _span_where(q: Any, f: Filters) -> Any:
    """Spans in the time range (by their own start, on the (name, start_ns) index).

    Pipeline spans carry only a trace id, so probe, target and region filters
    go through the runs with those values (indexed), as a set of trace ids (a
    joined call's two sides share one trace, so its spans show under either source).
    """
    q = q.where(Span.start_ns >= _ns(f.since), Span.start_ns < _ns(f.until))
    if f.probe or f.target or f.region or f.source:
        traces = _where(
            select(ProbeRun.trace_id).where(ProbeRun.trace_id.is_not(None)), ProbeRun, f
        )
        q = q.where(Span.trace_id.in_(traces))
    return q


def quality_over_time(
    store: Store,
    f: Filters,
    metrics: Sequence[str] = tuple(QUALITY_METRICS),
    *,
    bucket_s: int | None = None,
    group_by: str = "target",
) -> list[dict[str, Any]]:
    """Mean of each quality metric per time bucket and group (one row per bucket and group)."""
    bucket_s = bucket_s or pick_bucket_seconds(f.since, f.until)
    for m in metrics:
        if m not in QUALITY_METRICS:
            raise ValueError(f"unknown quality metric {m!r}")
    merged = None
    if f.until - f.since >= ROLLUP_FROM:
        # Means and counts from the histograms are exact: only the range decides.
        merged = _from_histograms(
            store, f, ("turns", *metrics), bucket_s, group_by, False, buckets=False
        )
    if merged is not None:
        by_key: dict[tuple[int, str], dict[str, Any]] = {}
        for (measure, b, grp), got in merged.items():
            kept = by_key.setdefault(
                (b, grp),
                {"bucket_start": _bucket_start(f.since, bucket_s, b), "group": grp, "turns": 0}
                | dict.fromkeys(metrics),
            )
            if measure == "turns":
                kept["turns"] = got.n
            else:
                kept[measure] = got.mean
        return sorted(by_key.values(), key=lambda d: (d["bucket_start"], d["group"]))
    q = _where(
        select(
            _bucket(store, Turn.started_at, f.since, bucket_s).label("bucket"),
            _group_column(Turn, group_by).label("grp"),
            func.count(),
            *[func.avg(getattr(Turn, m)) for m in metrics],
        ),
        Turn,
        f,
    ).group_by("bucket", "grp")
    with store.session() as s:
        rows = s.execute(q).all()
    out = []
    for r in rows:
        row: dict[str, Any] = {
            "bucket_start": _bucket_start(f.since, bucket_s, r[0]),
            "group": str(r[1]),
            "turns": int(r[2]),
        }
        row.update({m: _f(v) for m, v in zip(metrics, r[3:], strict=True)})
        out.append(row)
    return sorted(out, key=lambda d: (d["bucket_start"], d["group"]))


def quality_by_snr(
    store: Store, f: Filters, metrics: Sequence[str] = ("wer",)
) -> list[dict[str, Any]]:
    """Mean of each quality metric per caller SNR (turns sent with noise; what WER-against-SNR plots).

    One row per SNR the turns were sent at, lowest first, with the turn count
    and how many of those turns succeeded; turns from a clean caller
    (``snr_db`` NULL) are left out.
    """
    for m in metrics:
        if m not in QUALITY_METRICS:
            raise ValueError(f"unknown quality metric {m!r}")
    q = (
        select(
            Turn.snr_db,
            func.count(),
            func.sum(case((Turn.ok.is_(True), 1), else_=0)),
            *[func.avg(getattr(Turn, m)) for m in metrics],
        )
        .where(Turn.snr_db.is_not(None), Turn.started_at >= f.since, Turn.started_at < f.until)
        .group_by(Turn.snr_db)
    )
    # The partial index of the turns sent with noise serves this, filters or not: they
    # are compared as expressions (``col || ''``), which no index serves, so SQLite cannot
    # take a (source, started_at) index instead and read every turn of that source.
    for col, value in ((Turn.probe_name, f.probe), (Turn.target_url, f.target),
                       (Turn.region, f.region), (Turn.source, f.source)):  # fmt: skip
        if value:
            q = q.where(col.op("||")("") == value)
    with store.session() as s:
        rows = s.execute(q).all()
    out = []
    for r in sorted(rows, key=lambda r: float(r[0])):
        row: dict[str, Any] = {"snr_db": float(r[0]), "turns": int(r[1]), "ok": int(r[2] or 0)}
        row.update({m: _f(v) for m, v in zip(metrics, r[3:], strict=True)})
        out.append(row)
    return out


def distribution(store: Store, f: Filters, metric: str, *, bins: int = 30) -> list[dict[str, Any]]:
    """A histogram of one measure over the range: ``bins`` equal-width bins from min to max."""
    if metric not in QUALITY_METRICS and metric not in LATENCY_MEASURES:
        raise ValueError(f"unknown measure {metric!r}")
    if f.until - f.since >= ROLLUP_FROM:
        # Exact counts either way: only the range decides (the buckets are read here).
        merged = _from_histograms(store, f, (metric,), _whole_range_bucket(f), "all", False)
        if merged is not None:
            return _binned(next(iter(merged.values()), None), bins)
    value = getattr(Turn, metric)
    with store.session() as s:
        lo, hi = s.execute(
            _where(select(func.min(value), func.max(value)).where(value.is_not(None)), Turn, f)
        ).one()
        if lo is None or hi is None:
            return []
        lo, hi = float(lo), float(hi)
        width = (hi - lo) / bins if hi > lo else 1.0
        index: Any = func.min(cast((value - lo) / width, Integer), bins - 1)
        if store.backend == "postgresql":
            index = func.least(cast(func.floor((value - lo) / width), Integer), bins - 1)
        q = _where(
            select(index.label("b"), func.count()).where(value.is_not(None)), Turn, f
        ).group_by("b")
        rows = s.execute(q).all()
    return [
        {"lo": lo + int(b) * width, "hi": lo + (int(b) + 1) * width, "count": int(n)}
        for b, n in sorted(rows)
    ]


def _binned(merged: histograms.Merged | None, bins: int) -> list[dict[str, Any]]:
    """``distribution`` from a histogram: each value counted where its bucket reads back.

    A value then sits within ``histograms.RELATIVE_ERROR`` of where it is drawn,
    so a value close to a bin edge may be counted in the next bin; the total is exact.
    """
    if merged is None or merged.n == 0:
        return []
    held = {code: n for code, n in merged.buckets.items() if n > 0}
    values = {code: histograms.value_of(code) for code in held}
    lo, hi = min(values.values()), max(values.values())
    width = (hi - lo) / bins if hi > lo else 1.0
    per_bin: dict[int, int] = {}
    for code, n in held.items():
        b = min(int((values[code] - lo) / width), bins - 1)
        per_bin[b] = per_bin.get(b, 0) + n
    return [
        {"lo": lo + b * width, "hi": lo + (b + 1) * width, "count": n}
        for b, n in sorted(per_bin.items())
    ]


def _flag_condition(thresholds: Mapping[str, float]) -> ColumnElement[bool] | None:
    for metric in thresholds:
        if metric not in QUALITY_METRICS:
            raise ValueError(f"unknown quality metric {metric!r}")
    return histograms.flag_condition(Turn.__table__, thresholds) if thresholds else None  # type: ignore[arg-type]


def flagged_turns(
    store: Store, f: Filters, thresholds: Mapping[str, float], *, limit: int = 200
) -> tuple[int, list[dict[str, Any]]]:
    """Turns below a quality threshold (above, for WER): how many, and the newest ``limit``."""
    cond = _flag_condition(thresholds)
    if cond is None:
        return 0, []
    metric_cols = [getattr(Turn, m) for m in QUALITY_METRICS]
    # At the default thresholds the count is kept in the histograms (exact).
    held = None
    if dict(thresholds) == histograms.FLAG_THRESHOLDS:
        held = _counts_of(store, f, ("flagged",))
    with store.session() as s:
        if held is not None:
            total = held["flagged"]
        else:
            total = (
                s.scalar(_where(select(func.count()).select_from(Turn).where(cond), Turn, f)) or 0
            )
        q = _where(
            select(
                Turn.run_id, Turn.turn_index, Turn.started_at, Turn.probe_name,
                Turn.target_url, Turn.region, *metric_cols,
            ).where(cond),
            Turn,
            f,
        ).order_by(Turn.started_at.desc()).limit(limit)  # fmt: skip
        rows = s.execute(q).all()
    out = []
    for r in rows:
        row = {
            "run_id": r[0], "turn": r[1], "started_at": r[2], "probe": r[3],
            "target": r[4], "region": r[5],
        }  # fmt: skip
        values = dict(zip(QUALITY_METRICS, r[6:], strict=True))
        row.update(values)
        row["below"] = ", ".join(
            m
            for m, lim in thresholds.items()
            if values.get(m) is not None
            and (values[m] < lim if QUALITY_METRICS[m] else values[m] > lim)
        )
        out.append(row)
    return int(total), out


def search_runs(
    store: Store,
    f: Filters,
    *,
    text: str = "",
    status: str | None = None,
    failure_class: str | None = None,
    limit: int = 200,
) -> list[RunSummary]:
    """Runs newest first matching a free-text search, with their turns summarised in SQL.

    The text matches a run id prefix, probe, target, region, failure class or
    the (redacted) failure detail, case-insensitively.
    """
    q = _where(select(ProbeRun), ProbeRun, f).order_by(ProbeRun.started_at.desc()).limit(limit)
    if status:
        q = q.where(ProbeRun.status == status)
    if failure_class:
        q = q.where(ProbeRun.failure_class == failure_class)
    needle = text.strip().lower()
    if needle:
        like = f"%{_escape_like(needle)}%"
        q = q.where(
            or_(
                ProbeRun.id.like(f"{_escape_like(needle)}%", escape="\\"),
                func.lower(ProbeRun.probe_name).like(like, escape="\\"),
                func.lower(ProbeRun.target_url).like(like, escape="\\"),
                func.lower(ProbeRun.region).like(like, escape="\\"),
                func.lower(func.coalesce(ProbeRun.failure_class, "")).like(like, escape="\\"),
                func.lower(func.coalesce(ProbeRun.failure_detail, "")).like(like, escape="\\"),
            )
        )
    with store.session() as s:
        runs = list(s.scalars(q))
        ids = [r.id for r in runs]
        agg: dict[str, Any] = {}
        if ids:
            rows = s.execute(
                select(
                    Turn.run_id,
                    func.count(),
                    func.max(Turn.turn_latency_ms),
                    func.avg(Turn.turn_latency_ms),
                    func.min(Turn.pesq_wb),
                    func.min(Turn.stoi),
                    func.max(Turn.wer),
                    func.max(Turn.reported_latency_ms),
                )
                .where(Turn.run_id.in_(ids))
                .group_by(Turn.run_id)
            ).all()
            agg = {r[0]: r for r in rows}
    out = []
    for run in runs:
        a = agg.get(run.id)
        out.append(
            RunSummary(
                id=run.id,
                started_at=run.started_at,
                probe_name=run.probe_name,
                target_url=run.target_url,
                region=run.region,
                status=run.status,
                failure_class=run.failure_class,
                turns=int(a[1]) if a else 0,
                latency_max_ms=_f(a[2]) if a else None,
                latency_mean_ms=_f(a[3]) if a else None,
                pesq_wb_min=_f(a[4]) if a else None,
                stoi_min=_f(a[5]) if a else None,
                wer_max=_f(a[6]) if a else None,
                source=run.source,
                reported_max_ms=_f(a[7]) if a else None,
                joined_run_id=run.joined_run_id,
            )
        )
    return out


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def capacity(
    store: Store, f: Filters, stage: str, *, bins: int = 12, sample: int | None = None
) -> CapacityFit:
    """Fit one stage's latency against its cost driver over the spans of the runs in range.

    The fit and the bins use the newest ``sample`` spans of the stage in range
    (``CAPACITY_SAMPLE``; None: that default, 0: every span), read backwards on
    the ``(name, start_ns)`` index: a fit over 50,000 spans says what one over a
    million does, and what the stage does now weighs most. ``spans_in_range``
    counts them all.
    """
    if stage not in STAGE_DRIVERS:
        raise ValueError(
            f"no cost driver for stage {stage!r}; use one of {', '.join(STAGE_DRIVERS)}"
        )
    sample = CAPACITY_SAMPLE if sample is None else sample
    driver = STAGE_DRIVERS[stage]
    x = Span.attributes[driver].as_float()
    y = (Span.end_ns - Span.start_ns) / 1e6
    picked = _span_where(
        select(Span.start_ns, x.label("x"), y.label("y")).where(Span.name == stage), f
    )
    if sample:
        picked = picked.order_by(Span.start_ns.desc()).limit(sample)
    taken = picked.subquery()
    base = select(taken.c.x, taken.c.y).where(taken.c.x.is_not(None)).subquery()
    in_range = _span_where(select(func.count()).where(Span.name == stage), f)
    bx, by = base.c.x, base.c.y
    sums = select(
        func.count(),
        func.sum(bx),
        func.sum(by),
        func.sum(bx * bx),
        func.sum(bx * by),
        func.sum(by * by),
        func.min(bx),
        func.max(bx),
    )
    with store.session() as s:
        n, sx, sy, sxx, sxy, syy, lo, hi = s.execute(sums.select_from(base)).one()
        n = int(n or 0)
        if n == 0:
            return CapacityFit(stage, driver, 0, None, None, None, None, None, [])
        total = int(s.scalar(in_range) or 0)
        lo, hi = float(lo), float(hi)
        width = (hi - lo) / bins if hi > lo else 1.0
        if store.backend == "postgresql":
            index: Any = func.least(cast(func.floor((bx - lo) / width), Integer), bins - 1)
        else:
            index = func.min(cast((bx - lo) / width, Integer), bins - 1)
        binned = select(index.label("b"), by.label("v")).subquery()
        rows = s.execute(_ranked_percentiles(binned, ["b"], (0.95,))).all()
    slope, intercept, r2 = _ols(n, float(sx), float(sy), float(sxx), float(sxy), float(syy))
    cbins = [
        CapacityBin(
            driver_lo=lo + int(r[0]) * width,
            driver_hi=lo + (int(r[0]) + 1) * width,
            count=int(r[1]),
            mean_ms=float(r[2]),
            p95_ms=float(r[3]),
        )
        for r in sorted(rows, key=lambda r: int(r[0]))
    ]
    p95_slope, p95_intercept = _weighted_line(
        [((b.driver_lo + b.driver_hi) / 2, b.p95_ms, b.count) for b in cbins]
    )
    return CapacityFit(
        stage, driver, n, slope, intercept, r2, p95_slope, p95_intercept, cbins, total
    )


def _ols(
    n: int, sx: float, sy: float, sxx: float, sxy: float, syy: float
) -> tuple[float | None, float | None, float | None]:
    denom = n * sxx - sx * sx
    if n < 2 or abs(denom) < 1e-12:
        return None, (sy / n if n else None), None
    slope = (n * sxy - sx * sy) / denom
    intercept = (sy - slope * sx) / n
    ss_tot = syy - sy * sy / n
    ss_res = syy - intercept * sy - slope * sxy
    r2 = 1 - ss_res / ss_tot if ss_tot > 1e-12 else None
    return slope, intercept, r2


def _weighted_line(points: Sequence[tuple[float, float, int]]) -> tuple[float | None, float | None]:
    w = sum(p[2] for p in points)
    if len(points) < 2 or w == 0:
        return None, (points[0][1] if points else None)
    mx = sum(p[0] * p[2] for p in points) / w
    my = sum(p[1] * p[2] for p in points) / w
    sxx = sum(p[2] * (p[0] - mx) ** 2 for p in points)
    if sxx < 1e-12:
        return None, my
    slope = sum(p[2] * (p[0] - mx) * (p[1] - my) for p in points) / sxx
    return slope, my - slope * mx


def budget_history(
    store: Store, slo_name: str, since: datetime, *, bucket_s: int | None = None
) -> list[dict[str, Any]]:
    """Error budget remaining over time for the burn-down chart, one point per bucket.

    Evaluations may run every minute for months; the lowest budget in each
    bucket is kept, so a dip is never averaged away. Buckets are sized to the
    evaluations actually recorded (about 60 points), so a day of hourly
    evaluations in a 30-day window is a line of 24 points, not three.
    """
    if bucket_s is None:
        span_q = select(func.min(SloEvaluation.evaluated_at), func.max(SloEvaluation.evaluated_at))
        with store.session() as s:
            first, last = s.execute(
                span_q.where(
                    SloEvaluation.slo_name == slo_name, SloEvaluation.evaluated_at >= since
                )
            ).one()
        bucket_s = (
            fit_bucket_seconds(first, last, 60)
            if first is not None and last is not None
            else pick_bucket_seconds(since, datetime.now(UTC), 120)
        )
    bucket = _bucket(store, SloEvaluation.evaluated_at, since, bucket_s).label("bucket")
    q = (
        select(
            bucket,
            func.min(SloEvaluation.budget_remaining),
            func.min(SloEvaluation.sli),
            func.max(SloEvaluation.evaluated_at),
        )
        .where(SloEvaluation.slo_name == slo_name, SloEvaluation.evaluated_at >= since)
        .group_by("bucket")
        .order_by("bucket")
    )
    with store.session() as s:
        rows = s.execute(q).all()
    return [
        {
            "at": _bucket_start(since, bucket_s, r[0]),
            "budget_remaining": _f(r[1]),
            "sli": _f(r[2]),
        }
        for r in rows
    ]


def _f(value: Any) -> float | None:
    return None if value is None else float(value)


__all__ = [
    "DEFAULT_QUALITY_THRESHOLDS",
    "LATENCY_MEASURES",
    "QUALITY_METRICS",
    "ROLLUP_FROM",
    "STAGES",
    "STAGE_DRIVERS",
    "CapacityBin",
    "CapacityFit",
    "Dimensions",
    "Filters",
    "PercentileRow",
    "RunSummary",
    "budget_history",
    "by_source",
    "capacity",
    "chart_bucket_seconds",
    "counts",
    "data_extent",
    "dimensions",
    "distribution",
    "fit_bucket_seconds",
    "flagged_turns",
    "latest_run_at",
    "measured",
    "percentiles_over_time",
    "pick_bucket_seconds",
    "quality_by_snr",
    "quality_over_time",
    "search_runs",
    "stage_breakdown",
    "stage_breakdown_over_time",
]
