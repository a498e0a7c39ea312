"""Counts and quality kept in the histograms: the wide-range headline figures equal a count of the rows."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.helpers import read_histograms, statements
from voiceobs.results import RunResult, TurnResult
from voiceobs.store import ProbeRun, Store, Turn, rollups
from voiceobs.store import analytics as A
from voiceobs.store import histograms as H

# Mid-minute, so the ranges below have partial edge minutes read from the raw rows.
T0 = datetime(2026, 11, 3, 0, 0, 41, tzinfo=UTC)
METRICS = ("pesq_wb", "stoi", "wer")


def _call(rng: random.Random, at: datetime, i: int) -> RunResult:
    """A call; one in nine fails to connect (no turns), one in seven fails after its turns."""
    target = ("ws://a", "ws://b", "ws://c")[i % 3]
    run = RunResult(
        probe_name=f"p-{i % 3}", target_url=target, region=("eu", "us")[i % 2], started_at=at,
        source="production" if i % 4 == 0 else "synthetic",
    )  # fmt: skip
    if i % 9 == 0:
        run.status, run.failure_class = "failed", "connect"
        return run
    if i % 7 == 0:
        run.status, run.failure_class = "failed", "timeout"
    # Turns start 50 s after the call: often in the next minute, so a call's minute and
    # its turns' minutes differ and each must be counted in its own.
    for t in range(3):
        scored = t != 2 or i % 2 == 0
        run.turns.append(
            TurnResult(
                turn_index=t, started_at=at + timedelta(seconds=50 + 4 * t),
                turn_latency_ms=300 + rng.gammavariate(2.0, 60.0),
                pesq_wb=rng.uniform(1.5, 4.5) if scored else None,
                stoi=rng.uniform(0.6, 1.0) if scored else None,
                wer=rng.choice([0.0, 0.0, 0.1, 0.3, 0.5]) if scored else None,
            )
        )  # fmt: skip
    return run


@pytest.fixture
def calls(store: Store) -> Store:
    """Nine hours of calls, one every 40 s or so, with failures and quality scores."""
    rng = random.Random(23)
    store.replace_runs(
        [_call(rng, T0 + timedelta(seconds=40 * i + rng.randint(0, 20)), i) for i in range(800)]
    )
    # Stored weeks after they happened, and some with no turns: a refresh finds calls by
    # their turns' ids (and the last TRAILING minutes by time), so a bulk load is rebuilt.
    rollups.rebuild(store, [])
    return store


@pytest.fixture
def exact(monkeypatch: pytest.MonkeyPatch) -> object:
    """Calling this makes every range take the exact path (the baseline)."""

    def force() -> None:
        monkeypatch.setattr(A, "ROLLUP_FROM", timedelta(days=100_000))

    return force


def _ranges() -> list[A.Filters]:
    return [
        A.Filters(since=T0 + timedelta(seconds=13), until=T0 + timedelta(hours=8, seconds=29)),
        A.Filters(since=T0, until=T0 + timedelta(hours=9), source="production"),
        A.Filters(since=T0 + timedelta(minutes=37), until=T0 + timedelta(hours=7), target="ws://b"),
    ]


def _rows(store: Store, f: A.Filters) -> dict[str, int]:
    """The figures counted in Python from every stored row: what the histograms must give."""
    with store.session() as s:
        runs = [r for r in s.scalars(select(ProbeRun)) if f.since <= r.started_at < f.until]
        turns = [t for t in s.scalars(select(Turn)) if f.since <= t.started_at < f.until]
    keep = [(x.source, x.target_url) for x in (*runs, *turns)]
    assert keep, "the range must hold rows"

    def chosen(x: ProbeRun | Turn) -> bool:
        return (f.source in (None, x.source)) and (f.target in (None, x.target_url))

    runs, turns = [r for r in runs if chosen(r)], [t for t in turns if chosen(t)]
    return {"runs": len(runs), "failed_runs": sum(r.status != "ok" for r in runs),
            "turns": len(turns)}  # fmt: skip


@pytest.mark.parametrize("k", range(3))
def test_counts_from_the_histograms_equal_a_count_of_the_rows(calls: Store, k: int) -> None:
    f = _ranges()[k]
    with statements(calls) as seen:
        got = A.counts(calls, f)
    assert read_histograms(seen), "the counts were not read from the histograms"
    assert got == _rows(calls, f)
    assert got["runs"] > 50 and got["failed_runs"] > 5
    # Every call is in the minute rows once.
    with calls.engine.connect() as conn:
        held = conn.execute(
            select(func.sum(H.HISTOGRAMS.c.n)).where(H.HISTOGRAMS.c.measure == "runs",
                                                     H.HISTOGRAMS.c.width == H.MINUTE)
        ).scalar()  # fmt: skip
    assert held == 800


def test_by_source_counts_and_latency_agree_with_the_exact_path(calls: Store, exact) -> None:  # type: ignore[no-untyped-def]
    f = _ranges()[0]
    with statements(calls) as seen:
        rolled = {r["source"]: r for r in A.by_source(calls, f)}
    assert read_histograms(seen)
    exact()
    rows = {r["source"]: r for r in A.by_source(calls, f)}
    for src in ("production", "synthetic"):
        for key in ("runs", "failed_runs", "turns"):
            assert rolled[src][key] == rows[src][key] > 0, (src, key)
        e, a = rows[src]["turn_latency_ms_p95"], rolled[src]["turn_latency_ms_p95"]
        assert abs(a - e) <= H.RELATIVE_ERROR * e


@pytest.mark.parametrize("group_by", ["target", "region", "all"])
def test_quality_means_from_the_histograms_equal_the_exact_ones(
    calls: Store,
    exact,
    group_by: str,  # type: ignore[no-untyped-def]
) -> None:
    f = _ranges()[0]
    with statements(calls) as seen:
        rolled = A.quality_over_time(calls, f, METRICS, bucket_s=1800, group_by=group_by)
    assert read_histograms(seen)
    exact()
    rows = A.quality_over_time(calls, f, METRICS, bucket_s=1800, group_by=group_by)
    assert [(r["bucket_start"], r["group"], r["turns"]) for r in rolled] == [
        (r["bucket_start"], r["group"], r["turns"]) for r in rows
    ]
    for a, e in zip(rolled, rows, strict=True):
        for m in METRICS:
            assert a[m] == pytest.approx(e[m]), (a["bucket_start"], m)


def test_flagged_count_at_the_default_thresholds_comes_from_the_histograms(calls: Store) -> None:
    f = _ranges()[0]
    defaults = dict(H.FLAG_THRESHOLDS)
    with statements(calls) as seen:
        total, newest = A.flagged_turns(calls, f, defaults)
    assert read_histograms(seen)
    with calls.session() as s:
        turns = [t for t in s.scalars(select(Turn)) if f.since <= t.started_at < f.until]

    def flagged(t: Turn, limits: dict[str, float]) -> bool:
        return any(
            (v := getattr(t, m)) is not None and (v < lim if A.QUALITY_METRICS[m] else v > lim)
            for m, lim in limits.items()
        )

    assert total == sum(flagged(t, defaults) for t in turns) > 0
    assert newest and all(r["below"] for r in newest)
    # Other thresholds are not kept: those are counted from the rows, and still right.
    strict = {"wer": 0.05, "pesq_wb": 4.0}
    assert A.flagged_turns(calls, f, strict)[0] == sum(flagged(t, strict) for t in turns)


def test_distribution_from_the_histograms_places_each_value_within_the_stated_error(
    calls: Store,
    exact,  # type: ignore[no-untyped-def]
) -> None:
    f = _ranges()[0]
    with statements(calls) as seen:
        rolled = A.distribution(calls, f, "pesq_wb")
    assert read_histograms(seen)
    exact()
    rows = A.distribution(calls, f, "pesq_wb")
    assert sum(b["count"] for b in rolled) == sum(b["count"] for b in rows) > 1000
    lo, hi = rows[0]["lo"], rows[-1]["hi"]
    assert abs(rolled[0]["lo"] - lo) <= H.RELATIVE_ERROR * lo
    assert abs(rolled[-1]["hi"] - hi) <= H.RELATIVE_ERROR * hi
    # A value moves by at most 1 %: at most the values within that of a bin edge change bin.
    with calls.session() as s:
        values = [v for (v, at) in s.execute(select(Turn.pesq_wb, Turn.started_at))
                  if v is not None and f.since <= at < f.until]  # fmt: skip
    width = (hi - lo) / 30
    near_edge = sum(
        1
        for v in values
        if min((v - lo) % width, width - (v - lo) % width) <= 2 * H.RELATIVE_ERROR * v
    )
    moved = sum(abs(a["count"] - e["count"]) for a, e in zip(rolled, rows, strict=False)) / 2
    assert moved <= near_edge


def test_a_late_call_and_a_day_of_failed_connects_are_counted(store: Store) -> None:
    """Calls stored long after they happened, some with no turns at all, land in their minute."""
    rng = random.Random(4)
    now = datetime.now(UTC)
    store.replace_runs(
        [_call(rng, now - timedelta(hours=3, seconds=40 * i), i) for i in range(1, 40)]
    )
    rollups.refresh_histograms(store)
    # A failed connect as a probe stores it, moments after: no turn, found by the time window.
    store.replace_runs([_call(rng, now - timedelta(seconds=30), 18)])
    rollups.refresh_histograms(store)
    f = A.Filters(since=now - timedelta(hours=7), until=now)
    assert A.counts(store, f) == _rows(store, f)
    # Two days ago, replayed from a spool now: a call whose turns are in the next minute.
    late = _call(rng, now - timedelta(days=2, seconds=7), 1)
    store.replace_runs([late])
    rollups.refresh_histograms(store)
    f = A.Filters(since=now - timedelta(days=3), until=now)
    assert A.counts(store, f) == _rows(store, f)
    # A day of nothing but failed connects (no turn ids to track) is found by a rebuild.
    dead = [_call(rng, now - timedelta(days=5, minutes=i), 9) for i in range(6)]
    assert all(not r.turns for r in dead)
    store.replace_runs(dead)
    rollups.rebuild(store, [])
    f = A.Filters(since=now - timedelta(days=6), until=now)
    got = A.counts(store, f)
    assert got == _rows(store, f) and got["failed_runs"] >= 6
