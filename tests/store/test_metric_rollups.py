"""The Prometheus exporter on the shared rollups: exact at its bounds, counters that only grow."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import delete, func, insert, select

from tests.helpers import statements
from voiceobs.metrics import MEASURES, StoreCollector
from voiceobs.results import RunResult, TurnResult, utcnow
from voiceobs.store import Store, rollups, sli
from voiceobs.store.models import ProbeRun, Turn
from voiceobs.store.retention import RetentionPolicy

#: Series of several kinds: probes in two regions, a production bot with its framework and service.
SERIES = [
    {"probe_name": "echo", "target_url": "ws://echo/twilio", "region": "eu"},
    {"probe_name": "echo", "target_url": "ws://echo/twilio", "region": "us"},
    {"probe_name": "bot", "target_url": "ws://bot/pcm", "region": "eu", "source": "production",
     "framework": "pipecat", "service": "support-bot"},
]  # fmt: skip
KEEP = RetentionPolicy()


def _call(rng: random.Random, at: Any, series: dict[str, str], *, failed: bool = False,
          turns: int | None = None) -> RunResult:  # fmt: skip
    run = RunResult(started_at=at, finished_at=at + timedelta(seconds=9), **series)
    if failed:
        run.status, run.failure_class = "failed", "timeout"
    for i in range(rng.randint(1, 3) if turns is None else turns):
        # Values on a bound (0.5 s, PESQ 4.0) count under it: le is "less than or equal".
        lat = rng.choice([500.0, 300 + rng.gammavariate(2.0, 150.0)])
        turn = TurnResult(i, started_at=at + timedelta(seconds=2 * i), turn_latency_ms=lat,
                          ttfb_ms=lat - 40 if rng.random() < 0.8 else None,
                          connect_ms=rng.uniform(3, 80), ok=not failed,
                          pesq_wb=rng.choice([4.0, rng.uniform(1.5, 4.5)]))  # fmt: skip
        run.turns.append(turn)
    return run


def _calls(rng: random.Random, n: int, hours: float) -> list[RunResult]:
    """``n`` calls over the last ``hours``, and failed connects (no turns) of the last minutes.

    A call with no turns is found by the time it started, within the refresh's
    ``TRAILING`` window, as a probe stores one moments after it failed; one
    stored later is counted after a rebuild (docs/architecture.md).
    """
    now = utcnow()
    calls = [
        _call(rng, now - timedelta(seconds=rng.uniform(60, hours * 3600)), rng.choice(SERIES),
              failed=rng.random() < 0.1)
        for _ in range(n)
    ]  # fmt: skip
    connects = [_call(rng, now - timedelta(seconds=rng.uniform(10, 300)), rng.choice(SERIES),
                      failed=True, turns=0) for _ in range(max(1, n // 20))]  # fmt: skip
    return calls + connects


def _label(run: RunResult) -> tuple[tuple[str, str], ...]:
    return tuple(sorted({"probe": run.probe_name, "target": run.target_url, "region": run.region,
                         "source": run.source, "framework": run.framework,
                         "service": run.service}.items()))  # fmt: skip


def _expected(runs: list[RunResult]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every counter and histogram sample, counted from the calls in Python."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(float)
    for run in runs:
        labels = _label(run)
        status = "ok" if run.ok else "failed"
        out[("voiceobs_probe_calls_total", tuple(sorted((*labels, ("status", status)))))] += 1
        for turn in run.turns:
            out[("voiceobs_turns_total", tuple(sorted((*labels, ("status", status)))))] += 1
            for name, m in MEASURES.items():
                value = getattr(turn, name)
                if not turn.ok or value is None:
                    continue
                out[(m.histogram + "_count", labels)] += 1
                out[(m.histogram + "_sum", labels)] += value / m.scale
                for b in m.buckets:
                    le = tuple(sorted((*labels, ("le", repr(float(b))))))
                    out[(m.histogram + "_bucket", le)] += 1 if value <= b * m.scale else 0
                out[(m.histogram + "_bucket", tuple(sorted((*labels, ("le", "+Inf")))))] += 1
    # Both statuses are written for a series that has either.
    for (name, labels) in list(out):
        if name in ("voiceobs_probe_calls_total", "voiceobs_turns_total"):
            for status in ("ok", "failed"):
                other = tuple(sorted((*[kv for kv in labels if kv[0] != "status"], ("status", status))))
                out.setdefault((name, other), 0.0)
    return dict(out)


def _scrape(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            if s.name.endswith("_total") or "_bucket" in s.name or s.name.endswith(("_count", "_sum")):
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _collector(store: Store) -> tuple[StoreCollector, CollectorRegistry]:
    collector = StoreCollector(store, min_interval_s=0, retention=KEEP)
    registry = CollectorRegistry()
    registry.register(collector)
    return collector, registry


def _assert_equal(got: dict[Any, float], want: dict[Any, float]) -> None:
    assert got.keys() == want.keys()
    for k, v in want.items():
        assert got[k] == pytest.approx(v, rel=1e-9, abs=1e-9), k


def test_every_sample_equals_a_count_of_the_stored_calls(store: Store) -> None:
    rng = random.Random(5)
    runs = _calls(rng, 300, 20)
    # Older than the exporter's look-back: in the rollups, not in a counter that starts now.
    old = _calls(rng, 20, 1)
    for r in old:
        r.started_at -= timedelta(days=3)
        for t in r.turns:
            t.started_at = r.started_at
    # A probe retired three days ago keeps its freshness gauges: an alert on them must fire.
    retired = _call(rng, utcnow() - timedelta(days=3, minutes=7), {"probe_name": "retired",
                    "target_url": "ws://old/twilio", "region": "eu"})  # fmt: skip
    store.replace_runs(runs + old + [retired])
    _, registry = _collector(store)
    got = _scrape(registry)
    _assert_equal(got, _expected(runs))
    assert got[("voiceobs_turn_latency_seconds_count", _label(runs[0]))] > 0
    gauges = {(s.name, tuple(sorted(s.labels.items()))): s.value
              for f in text_string_to_metric_families(generate_latest(registry).decode())
              for s in f.samples if s.name.startswith("voiceobs_probe_last")}  # fmt: skip
    at = retired.started_at.timestamp()
    assert gauges[("voiceobs_probe_last_run_timestamp_seconds", _label(retired))] == pytest.approx(at)
    assert gauges[("voiceobs_probe_last_success_timestamp_seconds", _label(retired))] == pytest.approx(at)
    newest = max(r.started_at for r in runs if r.ok and _label(r) == _label(runs[0])).timestamp()
    assert gauges[("voiceobs_probe_last_success_timestamp_seconds", _label(runs[0]))] == pytest.approx(newest)


def test_counters_grow_by_what_is_stored_late_and_never_fall(store: Store) -> None:
    rng = random.Random(8)
    runs = _calls(rng, 120, 10)
    store.replace_runs(runs)
    _, registry = _collector(store)
    first = _scrape(registry)
    _assert_equal(first, _expected(runs))
    # New calls, and a spool replayed late: calls of five hours ago stored now.
    late = [r for r in _calls(rng, 30, 1) if r.turns]  # turnless ones stored late: see _calls
    for r in late:
        r.started_at -= timedelta(hours=5)
        for t in r.turns:
            t.started_at = r.started_at
    new = _calls(rng, 30, 0.1)
    store.replace_runs(late + new)
    second = _scrape(registry)
    _assert_equal(second, _expected(runs + late + new))
    # Raw rows of the watched hours vanish and the rollups are rebuilt from what is left:
    # the rows shrink, the counters do not (a counter that fell would read as a reset).
    with store.engine.begin() as conn:
        gone = [r.id for r in runs[:40]]
        conn.execute(delete(Turn).where(Turn.run_id.in_(gone)))
        conn.execute(delete(ProbeRun).where(ProbeRun.id.in_(gone)))
    rollups.rebuild(store, [])
    third = _scrape(registry)
    assert third.keys() == second.keys()
    assert all(third[k] >= second[k] or k[0].endswith("_sum") for k in second)
    # A fresh exporter reads the rows as they are now.
    _, fresh = _collector(store)
    _assert_equal(_scrape(fresh), _expected(runs[40:] + late + new))


@pytest.mark.postgres
def test_a_transaction_that_commits_out_of_id_order_is_counted(pg_url: str) -> None:
    """A PostgreSQL sequence hands out ids before commit: a lower id can become visible later."""
    store = Store.open(pg_url, create=True)
    try:
        rng = random.Random(3)
        slow, quick = _calls(rng, 1, 1)[0], _calls(rng, 1, 1)[0]
        # Older than the refresh's trailing minutes: only its re-read of recent ids finds it.
        slow.started_at = utcnow() - timedelta(minutes=40)
        slow.turns = [TurnResult(0, started_at=slow.started_at, turn_latency_ms=700.0)]
        _, registry = _collector(store)
        with store.engine.connect() as conn:
            tx = conn.begin()
            conn.execute(insert(ProbeRun), [{"id": slow.id, "probe_name": slow.probe_name,
                         "target_url": slow.target_url, "region": slow.region, "labels": {},
                         "started_at": slow.started_at, "status": "ok", "source": slow.source,
                         "framework": slow.framework, "service": slow.service}])  # fmt: skip
            conn.execute(insert(Turn), [Store._turn_values(slow, slow.turns[0])])
            store.replace_runs([quick])  # higher ids, committed first
            _assert_equal(_scrape(registry), _expected([quick]))
            tx.commit()
        with store.engine.connect() as conn:
            ids = dict(conn.execute(select(Turn.run_id, func.min(Turn.id)).group_by(Turn.run_id)).all())
        assert ids[slow.id] < ids[quick.id]
        _assert_equal(_scrape(registry), _expected([quick, slow]))
    finally:
        store.close()


def test_the_exporter_counts_good_turns_as_the_slo_engine_does(store: Store) -> None:
    """``voiceobs slo rules`` reads le="0.5" over turns_total; the SLO engine counts raw rows."""
    runs = _calls(random.Random(13), 200, 12)
    store.replace_runs(runs)
    _, registry = _collector(store)
    got = _scrape(registry)
    good = sum(v for (name, labels), v in got.items()
               if name == "voiceobs_turn_latency_seconds_bucket" and ("le", "0.5") in labels)  # fmt: skip
    total = sum(v for (name, _), v in got.items() if name == "voiceobs_turns_total")
    query = sli.SliQuery(key="k", events="turns", measure="turn_latency_ms", op="<=", threshold=500.0)
    now = utcnow()
    with store.engine.connect() as conn:
        want = conn.execute(sli.counts(sli.source_for(query), now - timedelta(days=1), now)).one()
    assert (good, total) == (want[0], want[1]) and 0 < good < total
    # And as the SLO engine's own rollup, kept by the same refresh, reads it.
    rollups.refresh(store, query)
    assert rollups.window_counts(store, query, now, {"1d": now - timedelta(days=1)})["1d"] == (good, total)


def test_a_scrape_reads_only_a_range_of_hours(store: Store) -> None:
    """What bounds a scrape's cost: every read of the rollups names its hours, none scans them all."""
    store.replace_runs(_calls(random.Random(2), 100, 20))
    _, registry = _collector(store)
    _scrape(registry)
    with statements(store) as seen:
        _scrape(registry)
    reads = [s.lower() for s in seen if "from metric_rollups" in s.lower()]
    assert reads
    assert all("metric_rollups.minute >=" in s or "metric_rollups.minute in" in s for s in reads), reads


def test_a_store_it_may_only_read_is_read_as_the_rollups_stand(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "ro.db"
    writer = Store.open(f"sqlite:///{path}", create=True)
    runs = _calls(random.Random(21), 40, 5)
    writer.replace_runs(runs)
    rollups.refresh_metric_rollups(writer)  # what `voiceobs watch` does once per pass
    writer.close()
    reader = Store.open(f"sqlite:///file:{path}?mode=ro&uri=true")
    try:
        _, registry = _collector(reader)
        with caplog.at_level("DEBUG", logger="voiceobs.metrics"):
            got = _scrape(registry)
            _scrape(registry)
        _assert_equal(got, _expected(runs))
        warned = [r for r in caplog.records if r.levelname == "WARNING"]
        assert len(warned) == 1 and "write access" in warned[0].getMessage()
    finally:
        reader.close()
