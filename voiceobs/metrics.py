"""Prometheus export of probe results, named the Prometheus way.

Two paths, because probes run two ways.

* ``voiceobs metrics serve`` (a long-running scrape target) reads the store
  and exposes **cumulative** counters and histograms, the series the SLO
  recording rules (``voiceobs slo rules``) take ``rate()`` of. It never
  disagrees with the dashboard because it reads the same store.
* A cron probe exits after one run, so it pushes that run's figures to a
  Pushgateway with ``pushadd`` (POST): metrics absent from a push keep their
  old values, which is why a failed run simply leaves out
  ``voiceobs_probe_last_success_timestamp_seconds`` and the last success time
  survives it. Counters pushed per run would reset on every push, so the
  push carries the last run's histograms and gauges only.

Families (labels ``probe``, ``target``, ``region``):

* ``voiceobs_probe_calls_total{status}`` (counter, served): calls, ``ok``/``failed``;
* ``voiceobs_turns_total{status}`` (counter, served): turns, by their call's outcome;
* ``voiceobs_turn_<measure>_seconds`` for ``turn_latency_ms`` (named
  ``voiceobs_turn_latency_seconds``), ``ttfb_ms``, ``connect_ms``,
  ``path_delay_ms`` and ``voiceobs_turn_<measure>`` for ``pesq_wb``,
  ``pesq_nb``, ``stoi``, ``estoi``, ``dnsmos_*``, ``wer`` (histograms of
  successful turns, observed only when the measure was taken);
* ``voiceobs_probe_success``, ``voiceobs_probe_last_run_timestamp_seconds``,
  ``voiceobs_probe_last_success_timestamp_seconds`` (gauges);
* pushed only: ``voiceobs_probe_calls{result}`` (calls of the last run by
  ``ok`` or failure class), ``voiceobs_quality_score{metric}`` (mean of the
  last run), ``voiceobs_pacing_error_p99_seconds``.

SLO thresholds are read at histogram bucket bounds, so the buckets below
include the thresholds an SLO is likely to use; ``voiceobs slo rules`` warns
about one that is not a bound.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from voiceobs.measures import EXPORTED_MEASURES, QUALITY_METRICS, TIME_MEASURES, Measure, measure
from voiceobs.results import RunResult
from voiceobs.store import Store, exports

log = logging.getLogger(__name__)

#: The measures exported as histograms, from the vocabulary.
MEASURES: dict[str, Measure] = {name: measure(name) for name in EXPORTED_MEASURES}

CALLS_METRIC = "voiceobs_probe_calls_total"
TURNS_METRIC = "voiceobs_turns_total"
#: Every series' labels: which probe or bot, where, and whether real callers or probes.
_LABELS = ("probe", "target", "region", "source", "framework", "service")
_Key = tuple[str, str, str, str, str, str]


def _labels(run: RunResult) -> _Key:
    return (str(run.probe_name), str(run.target_url), str(run.region or ""), str(run.source),
            str(run.framework), str(run.service))  # fmt: skip


def registry_for_results(results: Sequence[RunResult]) -> CollectorRegistry:
    """A fresh registry describing one probe run (for a push)."""
    registry = CollectorRegistry()
    hists = {
        name: Histogram(m.histogram, m.description, _LABELS, registry=registry, buckets=m.buckets)
        for name, m in MEASURES.items()
        if name in TIME_MEASURES
    }
    success = Gauge(
        "voiceobs_probe_success",
        "1 when every call of the last run succeeded.",
        _LABELS,
        registry=registry,
    )
    last_run = Gauge(
        "voiceobs_probe_last_run_timestamp_seconds",
        "When the last run finished.",
        _LABELS,
        registry=registry,
    )
    last_ok = Gauge(
        "voiceobs_probe_last_success_timestamp_seconds",
        "When a run last fully succeeded.",
        _LABELS,
        registry=registry,
    )
    calls = Gauge(
        "voiceobs_probe_calls",
        "Calls of the last run by result.",
        (*_LABELS, "result"),
        registry=registry,
    )
    quality = Gauge(
        "voiceobs_quality_score",
        "Mean quality score of the last run.",
        (*_LABELS, "metric"),
        registry=registry,
    )
    pacing = Gauge("voiceobs_pacing_error_p99_seconds", "Worst per-turn p99 pacing error of the last run.", _LABELS, registry=registry)  # fmt: skip
    groups: dict[_Key, list[RunResult]] = defaultdict(list)
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
                for name, hist in hists.items():
                    value = getattr(t, name, None)
                    if value is not None and math.isfinite(value):
                        hist.labels(*key).observe(MEASURES[name].exported_value(value))
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
    results: Sequence[RunResult],
    gateway: str,
    *,
    job: str = "voiceobs_probe",
    timeout_s: float = 10.0,
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
        pushadd_to_gateway(
            gateway, job=job, registry=registry, grouping_key=grouping, timeout=timeout_s
        )
    except Exception as exc:  # urllib raises several types; all mean "not pushed"
        log.warning("cannot push metrics to %s: %s", gateway, exc)
        return False
    return True


class _Cumulative:
    """Histogram state per label set: bucket counts, count and sum, only ever growing."""

    def __init__(self, n_buckets: int) -> None:
        self.buckets = [0] * n_buckets
        self.count = 0
        self.sum = 0.0


class StoreCollector(Collector):
    """The store's results as cumulative Prometheus series, for ``voiceobs metrics serve``.

    Turns are read incrementally (``turns.id`` above the last one seen), so a
    scrape of a large store costs what arrived since the previous scrape;
    rows that land late (a spool replay) get new ids and are counted then.
    Calls are counted by one grouped query per scrape, at most every
    ``min_interval_s`` seconds. A store that cannot be read yields
    ``voiceobs_store_read_errors`` and the last good figures, never an error.
    """

    def __init__(self, store: Store, *, min_interval_s: float = 10.0) -> None:
        self.store = store
        self.min_interval_s = min_interval_s
        #: Scrapes that failed to read the store (exposed so the failure is visible).
        self.errors = 0
        self._lock = threading.Lock()
        self._watermark = 0
        self._turns: dict[tuple[str, ...], int] = defaultdict(int)
        self._hist: dict[str, dict[_Key, _Cumulative]] = {m: {} for m in MEASURES}
        self._runs: list[exports.CallTotals] = []
        self._read_at = 0.0

    def refresh(self) -> None:
        """Read what is new in the store (called by ``collect``; public for tests)."""
        head = exports.last_turn_id(self.store)
        if head > self._watermark:
            self._read_turns(self._watermark, head)
            self._watermark = head
        self._runs = exports.call_totals(self.store)

    def _read_turns(self, after: int, head: int) -> None:
        """Fold turns ``after < id <= head`` into the counters, in one pass over them."""
        bounds = {name: (m.buckets, m.scale) for name, m in MEASURES.items()}
        for row in exports.turn_histograms(self.store, after, head, bounds):
            key = row.key
            self._turns[(*key, "ok")] += row.ok
            self._turns[(*key, "failed")] += row.total - row.ok
            for name, (count, total_value, per_bucket) in row.measures.items():
                if not count:
                    continue
                m = MEASURES[name]
                h = self._hist[name].setdefault(key, _Cumulative(len(m.buckets)))
                h.count += count
                h.sum += total_value / m.scale
                for i, n in enumerate(per_bucket):
                    h.buckets[i] += n

    def collect(self) -> Iterator[Metric]:
        """Counters, histograms and freshness gauges, from the store."""
        errors = GaugeMetricFamily(
            "voiceobs_store_read_errors", "Scrapes that could not read the store."
        )
        with self._lock:
            if time.monotonic() - self._read_at >= self.min_interval_s:
                try:
                    self.refresh()
                    self._read_at = time.monotonic()
                except Exception as exc:  # a scrape must answer even when the store is down
                    log.warning("metrics scrape cannot read the store: %s", exc)
                    self.errors += 1
            errors.add_metric([], self.errors)
            yield errors
            yield from self._families()

    def _families(self) -> Iterator[Metric]:
        calls = CounterMetricFamily(CALLS_METRIC.removesuffix("_total"), "Calls placed by probes, by outcome.", labels=[*_LABELS, "status"])  # fmt: skip
        success = GaugeMetricFamily("voiceobs_probe_success", "1 when the probe's latest call succeeded.", labels=list(_LABELS))  # fmt: skip
        last_run = GaugeMetricFamily("voiceobs_probe_last_run_timestamp_seconds", "When the probe last placed a call.", labels=list(_LABELS))  # fmt: skip
        last_ok = GaugeMetricFamily("voiceobs_probe_last_success_timestamp_seconds", "When a call of the probe last succeeded.", labels=list(_LABELS))  # fmt: skip
        for c in self._runs:
            key = list(c.key)
            calls.add_metric([*key, "ok"], float(c.ok))
            calls.add_metric([*key, "failed"], float(c.total - c.ok))
            ok_is_latest = c.last_ok_at is not None and c.last_ok_at >= c.last_at
            success.add_metric(key, 1.0 if ok_is_latest else 0.0)
            last_run.add_metric(key, c.last_at.timestamp())
            if c.last_ok_at is not None:
                last_ok.add_metric(key, c.last_ok_at.timestamp())
        turns = CounterMetricFamily(TURNS_METRIC.removesuffix("_total"), "Turns measured by probes, by their call's outcome.", labels=[*_LABELS, "status"])  # fmt: skip
        for labels, n in sorted(self._turns.items()):
            turns.add_metric(list(labels), float(n))
        yield from (calls, turns, success, last_run, last_ok)
        for name, m in MEASURES.items():
            family = HistogramMetricFamily(m.histogram, m.description, labels=list(_LABELS))
            for labels, h in sorted(self._hist[name].items()):
                series = [(_le(b), float(n)) for b, n in zip(m.buckets, h.buckets, strict=True)]
                series.append(("+Inf", float(h.count)))
                family.add_metric(list(labels), series, h.sum)
            yield family


def _le(bound: float) -> str:
    # The same rendering prometheus-client uses, so rules can name the bucket.
    return repr(float(bound))


__all__ = [
    "CALLS_METRIC",
    "MEASURES",
    "TURNS_METRIC",
    "StoreCollector",
    "push_results",
    "registry_for_results",
]
