"""Prometheus export of probe results, named the Prometheus way.

Two paths, because probes run two ways. A cron probe exits after one run, so
it pushes to a Pushgateway with ``pushadd`` (POST): metrics absent from a
push keep their old values, which is why a failed run simply leaves out
``voiceobs_probe_last_success_timestamp_seconds`` and the last success time
survives it. A long-running scrape target (``voiceobs metrics serve``) reads
the store on every scrape instead, so it never disagrees with the dashboard.

Exported families (labels ``probe``, ``target``, ``region``):

* ``voiceobs_turn_latency_seconds`` (histogram): end of caller speech to the
  first reply frame above the silence threshold;
* ``voiceobs_ttfb_seconds``, ``voiceobs_connect_seconds``,
  ``voiceobs_path_delay_seconds`` (histograms);
* ``voiceobs_probe_success`` (gauge, 1 when every call of the last run succeeded);
* ``voiceobs_probe_last_success_timestamp_seconds`` (gauge, Unix time);
* ``voiceobs_probe_last_run_timestamp_seconds`` (gauge, Unix time);
* ``voiceobs_probe_calls`` (gauge, calls of the last run by ``result``: ``ok``
  or the failure class);
* ``voiceobs_quality_score`` (gauge, mean of the last run by ``metric``);
* ``voiceobs_pacing_error_p99_seconds`` (gauge, worst turn of the last run).
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import timedelta
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from voiceobs.results import RunResult, utcnow

log = logging.getLogger(__name__)

#: Buckets (seconds) for voice latencies: 10 ms .. 10 s.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
QUALITY_METRICS = ("pesq_wb", "pesq_nb", "stoi", "estoi", "dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak", "wer")
_HISTOGRAMS = {
    "turn_latency_ms": ("voiceobs_turn_latency_seconds", "End of caller speech to first reply audio above silence."),
    "ttfb_ms": ("voiceobs_ttfb_seconds", "End of caller speech to the first reply frame of any content."),
    "connect_ms": ("voiceobs_connect_seconds", "WebSocket open and protocol start acknowledged."),
    "path_delay_ms": ("voiceobs_path_delay_seconds", "How late a loopback target returns the prompt."),
}
_LABELS = ("probe", "target", "region")


def _labels(run: Any) -> tuple[str, str, str]:
    return (str(run.probe_name), str(run.target_url), str(run.region or ""))


def registry_for_results(results: Sequence[RunResult]) -> CollectorRegistry:
    """A fresh registry describing one probe run (for a push)."""
    registry = CollectorRegistry()
    hists = {
        field: Histogram(name.removesuffix("_seconds"), doc, _LABELS, registry=registry,
                         buckets=LATENCY_BUCKETS, unit="seconds")
        for field, (name, doc) in _HISTOGRAMS.items()
    }  # fmt: skip
    success = Gauge("voiceobs_probe_success", "1 when every call of the last run succeeded.", _LABELS, registry=registry)
    last_run = Gauge("voiceobs_probe_last_run_timestamp_seconds", "When the last run finished.", _LABELS, registry=registry)
    last_ok = Gauge("voiceobs_probe_last_success_timestamp_seconds", "When a run last fully succeeded.", _LABELS, registry=registry)
    calls = Gauge("voiceobs_probe_calls", "Calls of the last run by result.", (*_LABELS, "result"), registry=registry)
    quality = Gauge("voiceobs_quality_score", "Mean quality score of the last run.", (*_LABELS, "metric"), registry=registry)
    pacing = Gauge("voiceobs_pacing_error_p99_seconds", "Worst per-turn p99 pacing error of the last run.", _LABELS, registry=registry)  # fmt: skip
    groups: dict[tuple[str, str, str], list[RunResult]] = defaultdict(list)
    for r in results:
        groups[_labels(r)].append(r)
    for key, runs in groups.items():
        ok = all(r.ok for r in runs)
        success.labels(*key).set(1 if ok else 0)
        finished = max((r.finished_at or r.started_at) for r in runs).timestamp()
        last_run.labels(*key).set(finished)
        if ok:
            last_ok.labels(*key).set(finished)
        by_result: dict[str, int] = defaultdict(int)
        for r in runs:
            by_result["ok" if r.ok else str(r.failure_class or "failed")] += 1
        for result, n in by_result.items():
            calls.labels(*key, result).set(n)
        sums: dict[str, list[float]] = defaultdict(list)
        worst_pacing: float | None = None
        for r in runs:
            for t in r.turns:
                for field, hist in hists.items():
                    value = getattr(t, field, None)
                    if value is not None and math.isfinite(value):
                        hist.labels(*key).observe(value / 1000.0)
                for m in QUALITY_METRICS:
                    v = getattr(t, m, None)
                    if v is not None:
                        sums[m].append(v)
                if t.pacing_error_p99_ms is not None:
                    worst_pacing = max(worst_pacing or 0.0, t.pacing_error_p99_ms)
        for m, values in sums.items():
            quality.labels(*key, m).set(sum(values) / len(values))
        if worst_pacing is not None:
            pacing.labels(*key).set(worst_pacing / 1000.0)
    if not results:
        registry.unregister(last_ok)
    return registry


def push_results(
    results: Sequence[RunResult], gateway: str, *, job: str = "voiceobs_probe", timeout_s: float = 10.0
) -> bool:
    """``pushadd`` one run's metrics; returns False (and logs) when the gateway cannot be reached.

    Monitoring never breaks what it watches: a Pushgateway outage must not
    turn a successful probe run into a failed one.
    """
    from prometheus_client import pushadd_to_gateway

    registry = registry_for_results(results)
    grouping = {}
    if results:
        grouping = {"probe": results[0].probe_name, "region": results[0].region or "none"}
    try:
        pushadd_to_gateway(gateway, job=job, registry=registry, grouping_key=grouping, timeout=timeout_s)
    except Exception as exc:  # urllib raises several types; all mean "not pushed"
        log.warning("cannot push metrics to %s: %s", gateway, exc)
        return False
    return True


class StoreCollector(Collector):
    """Describes the store's recent results on every scrape (``voiceobs metrics serve``)."""

    def __init__(self, store: Any, window: timedelta = timedelta(minutes=15)) -> None:
        self.store = store
        self.window = window
        #: Scrapes that failed to read the store (exposed so the failure is visible).
        self.errors = 0

    def collect(self) -> Iterator[Metric]:
        """Histograms over the window's turns, and gauges from each probe's latest runs."""
        errors = GaugeMetricFamily("voiceobs_store_read_errors", "Scrapes that could not read the store.")
        try:
            since = utcnow() - self.window
            turns = self.store.query_turns(since=since, limit=100_000)
            runs = self.store.list_runs(since=since, limit=10_000)
            last_ok_runs = self.store.list_runs(status="ok", limit=10_000)
        except Exception as exc:  # a scrape must answer even when the store is down
            log.warning("metrics scrape cannot read the store: %s", exc)
            self.errors += 1
            errors.add_metric([], self.errors)
            yield errors
            return
        errors.add_metric([], self.errors)
        yield errors
        yield from _histograms(turns)
        yield from _run_gauges(runs, last_ok_runs)


def _histograms(turns: Iterable[Any]) -> Iterator[Metric]:
    for field, (name, doc) in _HISTOGRAMS.items():
        family = HistogramMetricFamily(name, doc, labels=list(_LABELS))
        groups: dict[tuple[str, str, str], list[float]] = defaultdict(list)
        for t in turns:
            v = getattr(t, field, None)
            if v is not None and math.isfinite(v):
                groups[_labels(t)].append(v / 1000.0)
        for key, values in groups.items():
            buckets = [(str(b), float(sum(1 for v in values if v <= b))) for b in LATENCY_BUCKETS]
            buckets.append(("+Inf", float(len(values))))
            family.add_metric(list(key), buckets, sum(values))
        yield family


def _run_gauges(runs: Sequence[Any], ok_runs: Sequence[Any]) -> Iterator[Metric]:
    success = GaugeMetricFamily("voiceobs_probe_success", "1 when the latest call of the probe succeeded.", labels=list(_LABELS))
    last_run = GaugeMetricFamily("voiceobs_probe_last_run_timestamp_seconds", "When the probe last placed a call.", labels=list(_LABELS))
    last_ok = GaugeMetricFamily("voiceobs_probe_last_success_timestamp_seconds", "When a call of the probe last succeeded.", labels=list(_LABELS))
    calls = GaugeMetricFamily("voiceobs_probe_calls", "Calls in the window by result.", labels=[*_LABELS, "result"])  # fmt: skip
    latest: dict[tuple[str, str, str], Any] = {}
    counts: dict[tuple[str, str, str, str], int] = defaultdict(int)
    for r in runs:  # newest first
        key = _labels(r)
        latest.setdefault(key, r)
        counts[(*key, "ok" if r.status == "ok" else str(r.failure_class or "failed"))] += 1
    for key, r in latest.items():
        success.add_metric(list(key), 1.0 if r.status == "ok" else 0.0)
        last_run.add_metric(list(key), (r.finished_at or r.started_at).timestamp())
    seen: set[tuple[str, str, str]] = set()
    for r in ok_runs:
        key = _labels(r)
        if key not in seen:
            seen.add(key)
            last_ok.add_metric(list(key), (r.finished_at or r.started_at).timestamp())
    for ckey, n in counts.items():
        calls.add_metric(list(ckey), float(n))
    yield from (success, last_run, last_ok, calls)


__all__ = ["LATENCY_BUCKETS", "StoreCollector", "push_results", "registry_for_results"]
