"""Stage span histograms: the Latency page's stage panels over long ranges without reading every span."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.helpers import read_histograms, statements
from voiceobs.results import RunResult, SpanRecord, TurnResult
from voiceobs.store import Span, Store, rollups
from voiceobs.store import analytics as A
from voiceobs.store import histograms as H
from voiceobs.store.retention import RetentionPolicy, prune

# A whole second (the exact path cuts span ranges at whole seconds), mid-minute.
T0 = datetime(2026, 11, 3, 0, 0, 37, tzinfo=UTC)
DURATION = {"vad": (5, 20), "asr": (40, 260), "respond": (80, 400), "tts": (30, 210),
            "transport": (15, 25)}  # fmt: skip


def _ns(at: datetime) -> int:
    return int(at.timestamp()) * 1_000_000_000 + at.microsecond * 1000


def _call(rng: random.Random, at: datetime, i: int) -> RunResult:
    trace = f"{rng.getrandbits(128):032x}"
    run = RunResult(probe_name="p", target_url=("ws://a", "ws://b")[i % 2], started_at=at,
                    trace_id=trace)  # fmt: skip
    run.turns.append(TurnResult(turn_index=0, started_at=at, turn_latency_ms=400.0))
    t = _ns(at) + rng.randint(0, 10**9)
    for name, (lo, hi) in DURATION.items():
        ms = rng.uniform(lo, hi)
        run.spans.append(
            SpanRecord(
                trace_id=trace,
                span_id=f"{rng.getrandbits(64):016x}",
                name=name,
                start_ns=t,
                end_ns=t + int(ms * 1e6),
            )
        )
        t += int(ms * 1e6) + rng.randint(0, 3 * 10**7)
    # Not a stage: never in the stage rows.
    run.spans.append(SpanRecord(trace_id=trace, span_id=f"{rng.getrandbits(64):016x}",
                                name="probe.call", start_ns=_ns(at), end_ns=t))  # fmt: skip
    return run


@pytest.fixture
def spans(store: Store) -> Store:
    """Eight hours of calls, one every ~50 s, each with the five stage spans."""
    rng = random.Random(8)
    store.replace_runs([_call(rng, T0 + timedelta(seconds=50 * i + rng.randint(0, 9)), i)
                        for i in range(580)])  # fmt: skip
    return store


def _exact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(A, "ROLLUP_FROM", timedelta(days=100_000))


RANGE = A.Filters(since=T0 + timedelta(seconds=11), until=T0 + timedelta(hours=7, minutes=3))


def test_stage_breakdown_from_the_histograms_is_within_the_stated_error(
    spans: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    with statements(spans) as seen:
        rolled = A.stage_breakdown(spans, RANGE)
    assert read_histograms(seen), "the stage rows were not read"
    with spans.engine.connect() as conn:
        held = conn.execute(
            select(func.sum(H.HISTOGRAMS.c.n)).where(H.HISTOGRAMS.c.measure == "stage:asr",
                                                     H.HISTOGRAMS.c.width == H.MINUTE)
        ).scalar()  # fmt: skip
    assert held == 580, "the stage rows were not built (or hold the wrong spans)"
    _exact(monkeypatch)
    exact = A.stage_breakdown(spans, RANGE)
    assert [(r["stage"], r["count"]) for r in rolled] == [(r["stage"], r["count"]) for r in exact]
    assert [r["stage"] for r in rolled] == list(A.STAGES)
    for a, e in zip(rolled, exact, strict=True):
        assert a["mean_ms"] == pytest.approx(e["mean_ms"])
        for k in ("p50_ms", "p95_ms"):
            assert abs(a[k] - e[k]) <= H.RELATIVE_ERROR * e[k], (a["stage"], k)


def test_stages_over_time_from_the_histograms_equal_the_exact_means(
    spans: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    with statements(spans) as seen:
        rolled = A.stage_breakdown_over_time(spans, RANGE, bucket_s=1800)
    assert read_histograms(seen)
    _exact(monkeypatch)
    exact = sorted(
        A.stage_breakdown_over_time(spans, RANGE, bucket_s=1800),
        key=lambda d: (d["bucket_start"], d["stage"]),
    )
    assert [(r["bucket_start"], r["stage"], r["count"]) for r in rolled] == [
        (r["bucket_start"], r["stage"], r["count"]) for r in exact
    ]
    for a, e in zip(rolled, exact, strict=True):
        assert a["mean_ms"] == pytest.approx(e["mean_ms"])


def test_a_filtered_view_reads_the_spans(spans: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stage rows have no probe, target or region: a filter must not read them."""
    f = A.Filters(since=RANGE.since, until=RANGE.until, target="ws://b")
    with statements(spans) as seen:
        got = A.stage_breakdown(spans, f)
    assert not read_histograms(seen)
    _exact(monkeypatch)
    assert got == A.stage_breakdown(spans, f)
    assert got[0]["count"] < A.stage_breakdown(spans, RANGE)[0]["count"]


def _stage_minutes(store: Store) -> dict[int, int]:
    h = H.HISTOGRAMS
    q = select(h.c.minute, func.sum(h.c.n)).where(h.c.width == H.MINUTE,
                                                  h.c.measure.in_(H.STAGE_MEASURES))  # fmt: skip
    with store.engine.connect() as conn:
        return {int(m): int(n) for m, n in conn.execute(q.group_by(h.c.minute))}


def _raw_minutes(store: Store) -> dict[int, int]:
    q = select(Span.start_ns).where(Span.name.in_(A.STAGES))
    out: dict[int, int] = {}
    with store.engine.connect() as conn:
        for (ns,) in conn.execute(q):
            out[ns // 60_000_000_000] = out.get(ns // 60_000_000_000, 0) + 1
    return out


def test_new_and_late_spans_are_folded_in_and_pruned_spans_stay_counted(store: Store) -> None:
    rng = random.Random(3)
    now = datetime.now(UTC)
    store.replace_runs([_call(rng, now - timedelta(hours=2, minutes=i), i) for i in range(30)])
    rollups.refresh_span_histograms(store)
    assert _stage_minutes(store) == _raw_minutes(store)
    # A call from 20 days ago replayed now, and a new one: both land in their minutes.
    store.replace_runs([_call(rng, now - timedelta(days=20, seconds=5), 1),
                        _call(rng, now - timedelta(minutes=3), 2)])  # fmt: skip
    rollups.refresh_all(store, [])
    before = _stage_minutes(store)
    assert before == _raw_minutes(store)
    # Spans kept 14 days: the old call's spans go, its stage rows stay; a refresh with
    # the spans' horizon (what `voiceobs watch` passes) does not recompute them away.
    policy = RetentionPolicy(spans=timedelta(days=14))
    report = prune(store, policy, now)
    assert report.removed["spans"] == 6
    rollups.refresh_all(store, [], span_horizon=policy.span_horizon(now))
    assert _stage_minutes(store) == before != _raw_minutes(store)
    f = A.Filters(since=now - timedelta(days=25), until=now)
    assert sum(r["count"] for r in A.stage_breakdown(store, f)) == sum(before.values())


def test_capacity_fits_the_newest_spans_and_counts_them_all(store: Store) -> None:
    """Older tts spans cost 1 ms a character, the newest 2: a fit of the newest sees only 2."""
    runs = []
    for i in range(120):
        at = T0 + timedelta(minutes=i)
        chars = 20 + (i * 7) % 200
        ms = (1.0 if i < 80 else 2.0) * chars + 10
        trace = f"{i + 1:032x}"
        run = RunResult(probe_name="p", target_url="ws://a", started_at=at, trace_id=trace)
        t = _ns(at)
        run.spans.append(
            SpanRecord(trace_id=trace, span_id=f"{i + 1:016x}", name="tts", start_ns=t,
                       end_ns=t + int(ms * 1e6), attributes={"voice.output_chars": chars})
        )  # fmt: skip
        runs.append(run)
    store.replace_runs(runs)
    f = A.Filters(since=T0, until=T0 + timedelta(hours=3))
    newest = A.capacity(store, f, "tts", bins=4, sample=40)
    assert (newest.n, newest.spans_in_range) == (40, 120)
    assert newest.slope == pytest.approx(2.0) and newest.intercept == pytest.approx(10.0)
    assert sum(b.count for b in newest.bins) == 40
    every = A.capacity(store, f, "tts", bins=4, sample=0)
    assert every.n == every.spans_in_range == 120
    assert 1.0 < every.slope < 2.0  # type: ignore[operator]
