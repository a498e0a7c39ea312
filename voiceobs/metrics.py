"""Prometheus export of probe results, named the Prometheus way.

Two paths, because probes run two ways.

* ``voiceobs metrics serve`` (a long-running scrape target) reads the
  store's rollups (``store/metric_rollups.py``, kept by the same refresh as
  the SLO rollups and the dashboard's histograms) and exposes **cumulative**
  counters and histograms, the series the SLO recording rules
  (``voiceobs slo rules``) take ``rate()`` of. They count from ``LOOKBACK``
  before the exporter started and never go down (see ``StoreCollector``).
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
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from voiceobs.measures import EXPORTED_MEASURES, QUALITY_METRICS, TIME_MEASURES, Measure, measure
from voiceobs.results import RunResult, utcnow
from voiceobs.store import Store, exports, rollups
from voiceobs.store.retention import RetentionPolicy

log = logging.getLogger(__name__)

#: The measures exported as histograms, from the vocabulary.
MEASURES: dict[str, Measure] = {name: measure(name) for name in EXPORTED_MEASURES}

CALLS_METRIC = "voiceobs_probe_calls_total"
TURNS_METRIC = "voiceobs_turns_total"
#: Every series' labels: which probe or bot, where, and whether real callers or probes.
_LABELS = ("probe", "target", "region", "source", "framework", "service")
_Key = tuple[str, str, str, str, str, str]
#: Counters start from the rows of this long before the exporter started.
LOOKBACK = timedelta(days=1)
#: Rows older than this are no longer re-read (a call stored later than that is not counted).
SETTLED = timedelta(days=7)


def _hour(at: datetime) -> int:
    """The first minute number of the hour holding ``at``."""
    return int(at.timestamp() // 3600) * 60


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


class _Series:
    """One histogram or counter of one series: count, sum, cumulative bound counts."""

    __slots__ = ("le", "n", "total")

    def __init__(self, n: int = 0, total: float = 0.0, le: Sequence[int] = ()) -> None:
        self.n, self.total, self.le = n, total, list(le)

    def add(self, row: exports.RollupRow, sign: int) -> None:
        self.n += sign * row.n
        self.total += sign * row.total
        if len(self.le) < len(row.le):
            self.le += [0] * (len(row.le) - len(self.le))
        for i, c in enumerate(row.le):
            self.le[i] += sign * c

    def grow_to(self, truth: _Series) -> None:
        """Follow ``truth`` up, never down: a counter that fell would read as a reset."""
        if truth.n >= self.n:
            self.total = truth.total
        self.n = max(self.n, truth.n)
        if len(self.le) < len(truth.le):
            self.le += [0] * (len(truth.le) - len(self.le))
        self.le = [max(a, b) for a, b in zip(self.le, truth.le, strict=False)] + self.le[len(truth.le) :]


class StoreCollector(Collector):
    """The store's results as cumulative Prometheus series, for ``voiceobs metrics serve``.

    Every figure comes from the quarter-hour ``metric_rollups`` rows that
    the shared rollup refresh keeps (the exporter runs that refresh first,
    so it works without ``voiceobs watch``; a store it may only read is read
    as it is). Counters start from the rows since ``LOOKBACK`` before the
    exporter started and then grow by what each row gains: a scrape reads
    one sum per quarter hour of the last ``SETTLED`` (or since the
    raw-retention horizon, when that is nearer) and the rows of the quarter
    hours whose sum changed, so its cost does not grow with the store. A
    late call (a spool replayed) counts when it is stored, if it is that
    recent. No counter ever
    goes down, whatever is pruned or rebuilt. A store that cannot be read
    yields ``voiceobs_store_read_errors`` and the last good figures, never
    an error.
    """

    def __init__(
        self,
        store: Store,
        *,
        min_interval_s: float = 10.0,
        retention: RetentionPolicy | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.min_interval_s = min_interval_s
        #: Scrapes that failed to read the store (exposed so the failure is visible).
        self.errors = 0
        self._retention = retention or RetentionPolicy.load()
        self._clock = clock
        self._lock = threading.Lock()
        self._since = _hour(clock() - LOOKBACK)
        #: Row starts still watched (keys are minutes): their count sum when read, and their rows.
        self._hours: dict[int, tuple[int, dict[tuple[str, exports.Key], exports.RollupRow]]] = {}
        #: The sums of every row read (settled ones included), and what is shown of them.
        self._truth: dict[tuple[str, exports.Key], _Series] = {}
        self._shown: dict[tuple[str, exports.Key], _Series] = {}
        #: Per series: latest row start with a call, with a successful call; their exact times.
        self._latest: dict[exports.Key, tuple[int | None, int | None]] | None = None
        self._last: dict[exports.Key, tuple[datetime | None, datetime | None]] = {}
        self._read_at = 0.0
        self._refresh_failed = False

    def refresh(self) -> None:
        """Refresh the rollups, then read what changed (called by ``collect``; public for tests)."""
        now = self._clock()
        horizon = self._retention.rollup_horizon(now)
        try:
            rollups.refresh_metric_rollups(self.store, horizon)
            self._refresh_failed = False
        except Exception as exc:  # e.g. read-only credentials: `voiceobs watch` refreshes them
            # Said once per outage, not on every scrape.
            (log.debug if self._refresh_failed else log.warning)(
                "metrics: cannot refresh the rollups, reading them as they are (give the "
                "exporter write access to the store, or run `voiceobs watch` on it): %s", exc)  # fmt: skip
            self._refresh_failed = True
        watch_from = max(self._since, _hour(now - SETTLED), _hour(horizon) if horizon else 0)
        # Every read first, then every change: a store that fails halfway changes nothing.
        totals = exports.row_totals(self.store, watch_from)
        changed = sorted({h for h, n in totals.items() if self._hours.get(h, (None,))[0] != n}
                         | {h for h in self._hours if h >= watch_from and h not in totals})  # fmt: skip
        fresh = exports.rows_at(self.store, changed)
        latest = dict(self._latest if self._latest is not None else exports.latest_hours(self.store))
        touched: set[exports.Key] = set()
        for h, rows in fresh.items():
            for measure_name, key in rows:
                if measure_name in ("calls_ok", "calls_failed"):
                    exports.note_calls(latest, key, measure_name, h)
                    touched.add(key)
        last = {key: exports.last_call_times(self.store, key, *hours)
                for key, hours in latest.items() if key not in self._last or key in touched}  # fmt: skip
        # Every read is done: from here on nothing can fail halfway.
        for h in [h for h in self._hours if h < watch_from]:
            del self._hours[h]  # settled: its rows no longer change, its counts stay in the sums
        for h in changed:
            old = self._hours.pop(h, (0, {}))[1]
            new = fresh.get(h, {})
            for k, row in old.items():
                self._truth.setdefault(k, _Series()).add(row, -1)
            for k, row in new.items():
                self._truth.setdefault(k, _Series()).add(row, 1)
            for k in old.keys() | new.keys():
                self._shown.setdefault(k, _Series()).grow_to(self._truth[k])
            if h in totals:
                self._hours[h] = (totals[h], new)
        self._latest = latest
        self._last.update(last)

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
        turns = CounterMetricFamily(TURNS_METRIC.removesuffix("_total"), "Turns measured by probes, by their call's outcome.", labels=[*_LABELS, "status"])  # fmt: skip
        zero = _Series()
        for counter, prefix in ((calls, "calls"), (turns, "turns")):
            keys = sorted({k for m, k in self._shown if m.startswith(prefix + "_")})
            for key in keys:
                for status in ("ok", "failed"):
                    n = self._shown.get((f"{prefix}_{status}", key), zero).n
                    counter.add_metric([*key, status], float(n))
        for key, (last_at, last_ok_at) in sorted(self._last.items()):
            if last_at is None:
                continue
            ok_is_latest = last_ok_at is not None and last_ok_at >= last_at
            success.add_metric(list(key), 1.0 if ok_is_latest else 0.0)
            last_run.add_metric(list(key), last_at.timestamp())
            if last_ok_at is not None:
                last_ok.add_metric(list(key), last_ok_at.timestamp())
        yield from (calls, turns, success, last_run, last_ok)
        for name, m in MEASURES.items():
            family = HistogramMetricFamily(m.histogram, m.description, labels=list(_LABELS))
            for (measure_name, key), h in sorted(self._shown.items()):
                if measure_name != name or not h.n:
                    continue
                le = h.le + [h.n] * (len(m.buckets) - len(h.le))
                series = [(_le(b), float(c)) for b, c in zip(m.buckets, le, strict=False)]
                series.append(("+Inf", float(h.n)))
                family.add_metric(list(key), series, h.total / m.scale)
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
