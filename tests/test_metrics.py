"""Prometheus export: run metrics, pushadd keeping the last success, and the store collector."""

from __future__ import annotations

import time

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from voiceobs.metrics import StoreCollector, push_results, registry_for_results
from voiceobs.results import QUALITY_METRICS, RunResult, TurnResult, utcnow
from voiceobs.store import Store


def _run(ok: bool, latency_ms: float = 420.0) -> RunResult:
    run = RunResult(probe_name="p1", target_url="ws://bot/twilio", started_at=utcnow(), region="eu")
    run.turns = [
        TurnResult(0, turn_latency_ms=latency_ms, ttfb_ms=100.0, connect_ms=12.0, pesq_nb=4.1)
    ]
    if not ok:
        run.status, run.failure_class = "failed", "timeout"
        run.turns[0].ok = False
    run.finished_at = utcnow()
    return run


#: The labels of the test run's series, sorted as _samples keys them.
LABELS = tuple(sorted({"probe": "p1", "target": "ws://bot/twilio", "region": "eu", "source": "synthetic",
                       "framework": "", "service": ""}.items()))  # fmt: skip


def _with(**extra: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((*LABELS, *extra.items())))


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_run_registry_names_and_values() -> None:
    text = generate_latest(registry_for_results([_run(True), _run(False, 900.0)])).decode()
    labels = LABELS
    s = _samples(text)
    assert s[("voiceobs_turn_latency_seconds_count", labels)] == 2
    assert s[("voiceobs_turn_latency_seconds_sum", labels)] == pytest.approx(1.32)
    assert s[("voiceobs_turn_latency_seconds_bucket", _with(le="0.5"))] == 1
    assert s[("voiceobs_probe_success", labels)] == 0
    assert ("voiceobs_probe_last_success_timestamp_seconds", labels) not in s
    assert s[("voiceobs_probe_calls", _with(result="timeout"))] == 1


@pytest.mark.slow
def test_pushadd_keeps_last_success_after_a_failed_run(pushgateway: str) -> None:
    assert push_results([_run(True)], pushgateway)
    first = _samples(httpx.get(f"{pushgateway}/metrics", timeout=5).text)
    key = next(k for k in first if k[0] == "voiceobs_probe_last_success_timestamp_seconds")
    success_at = first[key]
    assert success_at > 0
    time.sleep(1.1)
    assert push_results([_run(False)], pushgateway)
    after = _samples(httpx.get(f"{pushgateway}/metrics", timeout=5).text)
    assert after[key] == success_at  # the failed run did not erase it
    success_key = next(
        k for k in after if k[0] == "voiceobs_probe_success" and ("probe", "p1") in k[1]
    )
    assert after[success_key] == 0


def test_push_to_nowhere_returns_false() -> None:
    assert push_results([_run(True)], "http://127.0.0.1:9", timeout_s=1) is False


def test_store_collector_exports_cumulative_series(db_url: str) -> None:
    store = Store.open(db_url, create=True)
    try:
        store.save_run(_run(True))
        store.save_run(_run(False, 900.0))
        from prometheus_client import CollectorRegistry

        collector = StoreCollector(store, min_interval_s=0)
        registry = CollectorRegistry()
        registry.register(collector)
        s = _samples(generate_latest(registry).decode())
        labels = LABELS
        # Failed calls' turns are counted, never observed in a histogram.
        assert s[("voiceobs_turn_latency_seconds_count", labels)] == 1
        assert s[("voiceobs_turn_latency_seconds_sum", labels)] == pytest.approx(0.42)
        assert s[("voiceobs_turn_latency_seconds_bucket", _with(le="0.4"))] == 0
        assert s[("voiceobs_turn_latency_seconds_bucket", _with(le="0.5"))] == 1
        assert s[("voiceobs_turn_pesq_nb_bucket", _with(le="4.25"))] == 1
        assert s[("voiceobs_probe_calls_total", _with(status="ok"))] == 1
        assert (
            s[("voiceobs_probe_calls_total", _with(status="failed"))] == 1
        )
        assert s[("voiceobs_turns_total", _with(status="failed"))] == 1
        assert s[("voiceobs_probe_success", labels)] == 0  # the newest call failed
        assert ("voiceobs_probe_last_success_timestamp_seconds", labels) in s
        assert s[("voiceobs_store_read_errors", ())] == 0
        # Counters only grow: a new run adds to them, read incrementally.
        store.save_run(_run(True, 300.0))
        s = _samples(generate_latest(registry).decode())
        assert s[("voiceobs_turn_latency_seconds_count", labels)] == 2
        assert s[("voiceobs_turn_latency_seconds_bucket", _with(le="0.4"))] == 1
        assert s[("voiceobs_probe_calls_total", _with(status="ok"))] == 2
        assert s[("voiceobs_probe_success", labels)] == 1
    finally:
        store.close()


def test_store_collector_survives_a_store_that_goes_away(sqlite_url: str) -> None:
    from prometheus_client import CollectorRegistry

    from voiceobs.store import make_engine

    store = Store.open(sqlite_url, create=True)
    store.save_run(_run(True))
    collector = StoreCollector(store, min_interval_s=0)
    registry = CollectorRegistry()
    registry.register(collector)
    generate_latest(registry)
    collector.store = Store(make_engine("postgresql+psycopg://nobody@127.0.0.1:9/none"))
    s = _samples(generate_latest(registry).decode())
    assert s[("voiceobs_store_read_errors", ())] == 1
    labels = LABELS
    assert s[("voiceobs_turn_latency_seconds_count", labels)] == 1, "the last good figures stay"
    store.close()


def test_every_series_the_slo_rules_read_is_exported(sqlite_url: str) -> None:
    """The contract between `voiceobs slo rules` and `voiceobs metrics serve`."""
    import re

    from prometheus_client import CollectorRegistry

    from voiceobs.slo import load_slos
    from voiceobs.slo.rules import generate_rules

    store = Store.open(sqlite_url, create=True)
    full = _run(True)
    for measure in ("path_delay_ms", *QUALITY_METRICS):
        setattr(full.turns[0], measure, 0.5)
    store.save_run(full)
    registry = CollectorRegistry()
    registry.register(StoreCollector(store, min_interval_s=0))
    exported = {
        s.name
        for f in text_string_to_metric_families(generate_latest(registry).decode())
        for s in f.samples
    }
    rules = generate_rules(load_slos("probes/slos.yaml"))
    text = rules.to_yaml()
    used = set(re.findall(r"\b(voiceobs_[a-z_]+)\{", text))
    assert used, "the rules read voiceobs series"
    assert used <= exported, f"rules read series nobody exports: {sorted(used - exported)}"
    assert not [w for w in rules.warnings if "bucket" in w], rules.warnings
    store.close()
