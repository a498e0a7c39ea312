"""SQL aggregations against numbers computed by hand from the same rows, on both backends."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from voiceobs.results import RunResult, SpanRecord, TurnResult
from voiceobs.store import Store
from voiceobs.store import analytics as A

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)


def _nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


@pytest.fixture
def filled(store: Store) -> dict[tuple[int, str], list[float]]:
    """Three hours of runs on two targets; returns latencies per (hour, target)."""
    rng = random.Random(3)
    expected: dict[tuple[int, str], list[float]] = {}
    for i in range(90):
        at = T0 + timedelta(minutes=2 * i, seconds=rng.randint(0, 59))
        target = ["ws://a", "ws://b"][i % 2]
        lat = rng.uniform(200, 900)
        run = RunResult(probe_name="p", target_url=target, region="r1", started_at=at)
        run.trace_id = f"{i + 1:032x}"
        run.turns.append(TurnResult(turn_index=0, turn_latency_ms=lat, pesq_wb=rng.uniform(1, 4.5),
                                    started_at=at))  # fmt: skip
        chars = rng.randint(10, 200)
        base = int(at.timestamp() * 1e9)
        run.spans.append(SpanRecord(trace_id=run.trace_id, span_id="a" * 16, name="tts",
                                    start_ns=base, end_ns=base + int((30 + 0.5 * chars) * 1e6),
                                    attributes={"voice.output_chars": chars}))  # fmt: skip
        store.save_run(run)
        expected.setdefault((i * 2 // 60, target), []).append(lat)
    return expected


def test_percentiles_per_hour_and_target_are_exact(
    store: Store, filled: dict[tuple[int, str], list[float]]
) -> None:
    f = A.Filters(since=T0, until=T0 + timedelta(hours=3))
    rows = A.percentiles_over_time(store, f, bucket_s=3600, group_by="target")
    assert len(rows) == 6
    for r in rows:
        hour = int((r.bucket_start - T0).total_seconds() // 3600)
        values = filled[(hour, r.group)]
        assert r.count == len(values)
        for q, got in ((0.5, r.p50), (0.95, r.p95), (0.99, r.p99)):
            assert got == pytest.approx(_nearest_rank(values, q))
        assert r.mean == pytest.approx(sum(values) / len(values))


def test_filters_and_counts(store: Store, filled: dict[tuple[int, str], list[float]]) -> None:
    f = A.Filters(since=T0, until=T0 + timedelta(hours=1), target="ws://b")
    assert A.counts(store, f) == {"runs": 15, "failed_runs": 0, "turns": 15}
    rows = A.percentiles_over_time(store, f, bucket_s=3600, group_by="all")
    assert [r.count for r in rows] == [15]
    dims = A.dimensions(store)
    assert dims.targets == ["ws://a", "ws://b"] and dims.regions == ["r1"]


def test_distribution_and_flags(store: Store, filled: dict[tuple[int, str], list[float]]) -> None:
    f = A.Filters(since=T0, until=T0 + timedelta(hours=3))
    hist = A.distribution(store, f, "pesq_wb", bins=10)
    assert sum(b["count"] for b in hist) == 90
    total, rows = A.flagged_turns(store, f, {"pesq_wb": 2.0})
    assert 0 < total == len(rows)
    assert all(r["pesq_wb"] < 2.0 and r["below"] == "pesq_wb" for r in rows)


def test_capacity_recovers_the_seeded_line(
    store: Store, filled: dict[tuple[int, str], list[float]]
) -> None:
    f = A.Filters(since=T0, until=T0 + timedelta(hours=3))
    fit = A.capacity(store, f, "tts", bins=6)
    assert fit.n == 90
    assert fit.slope == pytest.approx(0.5, rel=1e-6)
    assert fit.intercept == pytest.approx(30.0, abs=1e-3)
    assert sum(b.count for b in fit.bins) == 90
    # a noiseless line: p95 per bin sits on it, so the crossing is where 30 + 0.5 x = 130
    crossing = fit.crossing_load(130.0)
    assert crossing is not None and 150 < crossing < 215
    assert fit.crossing_load(10.0) == 0.0
    stages = A.stage_breakdown(store, f)
    assert [s["stage"] for s in stages] == ["tts"] and stages[0]["count"] == 90


def test_search_runs(store: Store, filled: dict[tuple[int, str], list[float]]) -> None:
    f = A.Filters(since=T0, until=T0 + timedelta(hours=3))
    assert len(A.search_runs(store, f, text="WS://B")) == 45
    assert A.search_runs(store, f, text="100%") == []
    first = A.search_runs(store, f, limit=1)[0]
    assert first.turns == 1 and first.latency_max_ms is not None


@pytest.mark.parametrize(
    ("span", "size"),
    [
        (timedelta(minutes=30), 60),  # half an hour of data in any range: one-minute buckets
        (timedelta(hours=3), 300),
        (timedelta(hours=12), 900),
        (timedelta(hours=24), 1800),
        (timedelta(days=7), 3 * 3600),
        (timedelta(days=30), 86400),
        (timedelta(minutes=1), 10),  # too little data for 30 points: the finest size
        (timedelta(0), 10),
    ],
)
def test_chart_buckets_fit_the_data_in_range(span: timedelta, size: int) -> None:
    assert A.fit_bucket_seconds(T0, T0 + span) == size


def test_chart_buckets_give_at_least_30_points_and_not_many_more() -> None:
    for minutes in range(5, 60 * 24 * 60, 37):
        span = timedelta(minutes=minutes)
        size = A.fit_bucket_seconds(T0, T0 + span)
        points = span.total_seconds() / size
        assert points >= 30, (span, size)
        assert points < 30 * 4, (span, size)  # the next coarser size would also have given 30


def test_chart_buckets_come_from_the_data_not_the_range(
    store: Store, filled: dict[tuple[int, str], list[float]]
) -> None:
    # Three hours of data inside a 30-day range: five-minute buckets, not the range's day.
    f = A.Filters(since=T0 - timedelta(days=27), until=T0 + timedelta(days=3))
    first, last = A.data_extent(store, f) or (None, None)
    assert first is not None and last is not None
    assert timedelta(hours=2, minutes=55) < last - first < timedelta(hours=3)
    assert A.chart_bucket_seconds(store, f) == 300
    empty = A.Filters(since=T0 - timedelta(days=60), until=T0 - timedelta(days=30))
    assert A.data_extent(store, empty) is None
    assert A.chart_bucket_seconds(store, empty) == A.pick_bucket_seconds(
        empty.since, empty.until, 30
    )


def test_by_source_puts_production_beside_synthetic(store: Store) -> None:
    heard = [400.0 + i for i in range(20)]
    reported = [300.0 + 2 * i for i in range(10)]
    for i, ms in enumerate(heard):
        run = RunResult(probe_name="p", target_url="ws://a", started_at=T0 + timedelta(minutes=i),
                        status="ok" if i else "failed")  # fmt: skip
        run.turns.append(TurnResult(turn_index=0, turn_latency_ms=ms, started_at=run.started_at))
        store.save_run(run)
    for i, ms in enumerate(reported):
        run = RunResult(probe_name="bot", target_url="pipecat://bot", source="production",
                        started_at=T0 + timedelta(minutes=i))  # fmt: skip
        run.turns.append(
            TurnResult(turn_index=0, reported_latency_ms=ms, started_at=run.started_at)
        )
        store.save_run(run)
    f = A.Filters(since=T0, until=T0 + timedelta(hours=1))
    rows = {r["source"]: r for r in A.by_source(store, f)}
    assert rows["synthetic"]["runs"] == 20 and rows["synthetic"]["failed_runs"] == 1
    assert rows["production"]["runs"] == 10 and rows["production"]["turns"] == 10
    assert rows["synthetic"]["turn_latency_ms_p95"] == pytest.approx(_nearest_rank(heard, 0.95))
    assert rows["production"]["reported_latency_ms_p95"] == pytest.approx(
        _nearest_rank(reported, 0.95)
    )
    assert rows["production"]["turn_latency_ms_p95"] is None
    only = A.by_source(store, A.Filters(since=f.since, until=f.until, source="production"))
    assert [r["source"] for r in only] == ["production"]
    assert (
        A.counts(store, A.Filters(since=f.since, until=f.until, source="synthetic"))["runs"] == 20
    )
    empty = A.by_source(
        store, A.Filters(since=T0 - timedelta(days=2), until=T0 - timedelta(days=1))
    )
    assert [(r["source"], r["runs"]) for r in empty] == [("production", 0), ("synthetic", 0)]


def test_budget_history_is_bucketed_to_the_evaluations_recorded(store: Store) -> None:
    # A day of hourly evaluations in a 30-day window: one point per evaluation, not three.
    for k in range(24):
        store.record_evaluation(
            slo_name="s", window="30d", objective=0.99, good=99, total=100, sli=0.99,
            budget_remaining=1 - k / 24, burn_rates={}, alert_state="ok",
            evaluated_at=T0 + timedelta(hours=k),
        )  # fmt: skip
    rows = A.budget_history(store, "s", T0 + timedelta(hours=23) - timedelta(days=30))
    assert len(rows) == 24
    assert [r["budget_remaining"] for r in rows] == pytest.approx([1 - k / 24 for k in range(24)])


def test_quality_by_snr_groups_wer_by_the_callers_noise(store: Store) -> None:
    """What a WER-against-SNR chart reads: the mean per SNR, clean callers left out."""
    wers = {20.0: [0.0, 0.1], 10.0: [0.2, 0.4, 0.3], 5.0: [0.9]}
    for snr, values in wers.items():
        for i, w in enumerate(values):
            run = RunResult(
                probe_name="p",
                target_url="ws://a",
                region="r1",
                started_at=T0 + timedelta(minutes=i),
            )
            run.turns.append(TurnResult(turn_index=0, wer=w, snr_db=snr, caller={"snr_db": snr}, ok=i != 1,
                                        started_at=T0 + timedelta(minutes=i)))  # fmt: skip
            store.save_run(run)
    clean = RunResult(probe_name="p", target_url="ws://a", region="r1", started_at=T0)
    clean.turns.append(TurnResult(turn_index=0, wer=0.0, started_at=T0))
    store.save_run(clean)
    rows = A.quality_by_snr(
        store, A.Filters(since=T0 - timedelta(hours=1), until=T0 + timedelta(hours=1))
    )
    assert [r["snr_db"] for r in rows] == [5.0, 10.0, 20.0]
    for r in rows:
        values = wers[r["snr_db"]]
        assert r["turns"] == len(values) and r["ok"] == len(values) - (len(values) > 1)
        assert math.isclose(r["wer"], sum(values) / len(values))


def test_quality_by_snr_reads_only_the_turns_sent_with_noise(store: Store) -> None:
    """The partial index of noisy turns serves it, with or without a source filter."""
    from sqlalchemy import event

    # Many clean turns and a few noisy ones, with the planner's statistics up to date.
    runs = []
    for i in range(300):
        run = RunResult(probe_name="p", target_url="ws://a", region="r1",
                        started_at=T0 + timedelta(seconds=i))  # fmt: skip
        snr = 10.0 if i % 100 == 0 else None
        run.turns = [TurnResult(turn_index=k, wer=0.1, snr_db=snr, started_at=run.started_at)
                     for k in range(8)]  # fmt: skip
        runs.append(run)
    store.replace_runs(runs)
    with store.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    seen: list[tuple[str, object]] = []

    def keep(conn, cursor, statement, params, context, many):  # type: ignore[no-untyped-def]
        if "snr_db" in statement:
            seen.append((statement, params))

    event.listen(store.engine, "before_cursor_execute", keep)
    span = (T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    A.quality_by_snr(store, A.Filters(*span))
    A.quality_by_snr(store, A.Filters(*span, source="synthetic", target="ws://a"))
    event.remove(store.engine, "before_cursor_execute", keep)
    assert len(seen) == 2
    for statement, params in seen:
        with store.engine.connect() as conn:
            if store.backend == "sqlite":
                plan = " ".join(
                    str(r[-1])
                    for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)
                )
            else:
                plan = " ".join(
                    str(r[0]) for r in conn.exec_driver_sql(f"EXPLAIN {statement}", params)
                )
                # Each day partition has its own copy of the index, under its own name.
                partial = [
                    str(n)
                    for (n,) in conn.exec_driver_sql(
                        "SELECT indexname FROM pg_indexes WHERE position('snr_db IS NOT NULL' in indexdef) > 0"
                    )
                ]
                plan = plan if not any(n in plan for n in partial) else "ix_turns_snr_started"
        assert "ix_turns_snr_started" in plan, plan


def test_measured_counts_the_turns_that_carry_each_measure(store: Store) -> None:
    run = RunResult(probe_name="p", target_url="ws://a", started_at=T0)
    run.turns = [
        TurnResult(0, turn_latency_ms=700.0, started_at=T0),
        TurnResult(1, barge_in_stop_ms=210.0, clear_ms=90.0, started_at=T0),
        TurnResult(2, barge_in_stop_ms=250.0, started_at=T0),
    ]
    store.save_run(run)
    f = A.Filters(since=T0 - timedelta(hours=1), until=T0 + timedelta(hours=1))
    got = A.measured(store, f, ("barge_in_stop_ms", "clear_ms", "greeting_ms", "turn_latency_ms"))
    assert got == {"barge_in_stop_ms": 2, "clear_ms": 1, "greeting_ms": 0, "turn_latency_ms": 1}
    later = A.Filters(since=T0 + timedelta(hours=2), until=T0 + timedelta(hours=3))
    assert A.measured(store, later, ("barge_in_stop_ms",)) == {"barge_in_stop_ms": 0}
    with pytest.raises(ValueError, match="nope"):
        A.measured(store, f, ("nope",))


def test_dimensions_walk_the_index_and_find_every_distinct_value(store: Store) -> None:
    """One seek per value must still find them all: the empty region, odd characters, repeats."""
    names = ["b", "a", "a", "z-9", "é", "b"]
    store.replace_runs(
        [RunResult(probe_name=n, target_url=f"ws://{n}", region=("", "eu", "us")[i % 3],
                   started_at=T0 + timedelta(minutes=i)) for i, n in enumerate(names)]
    )  # fmt: skip
    dims = A.dimensions(store)
    assert dims.probes == sorted(set(names))
    assert dims.targets == sorted({f"ws://{n}" for n in names})
    assert dims.regions == ["", "eu", "us"]
