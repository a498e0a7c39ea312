"""Baseline for bench_scrape.py: the exporter as of commit 0bf69d1, which read raw rows itself.

Kept verbatim (voiceobs/store/exports.py and ``StoreCollector`` from
voiceobs/metrics.py of that commit, names prefixed) so every benchmark run
measures today's exporter, on the shared rollups, against the one it
replaced: its first scrape grouped every stored turn, and every scrape
grouped every stored call.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import and_, case, func, select
from sqlalchemy.exc import SQLAlchemyError

from voiceobs.metrics import _LABELS, CALLS_METRIC, MEASURES, TURNS_METRIC, _Key
from voiceobs.store import Store
from voiceobs.store.engine import translate_db_error
from voiceobs.store.models import ProbeRun, Turn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallTotals:
    """Calls of one probe, target and region: how many, how many ok, the latest of each."""

    probe: str
    target: str
    region: str
    source: str
    framework: str
    service: str
    ok: int
    total: int
    last_at: datetime
    last_ok_at: datetime | None

    @property
    def key(self) -> tuple[str, str, str, str, str, str]:
        """The series' label values, in the exporter's label order."""
        return (self.probe, self.target, self.region, self.source, self.framework, self.service)


@dataclass(frozen=True)
class TurnHistogram:
    """Turns of one probe, target and region: counts, and per measure (count, sum, buckets)."""

    probe: str
    target: str
    region: str
    source: str
    framework: str
    service: str
    total: int
    ok: int
    measures: dict[str, tuple[int, float, list[int]]] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str, str, str, str]:
        """The series' label values, in the exporter's label order."""
        return (self.probe, self.target, self.region, self.source, self.framework, self.service)


def _utc(value: Any) -> datetime:
    # Aggregates bypass the column type: SQLite returns text, both return naive UTC.
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def last_turn_id(store: Store) -> int:
    """The newest turn id (0 for an empty store): the exporter's watermark."""
    try:
        with store.engine.connect() as conn:
            return int(conn.execute(select(func.max(Turn.id))).scalar() or 0)
    except SQLAlchemyError as exc:
        raise translate_db_error(exc, store.url) from exc


def call_totals(store: Store) -> list[CallTotals]:
    """Every probe/target/region's call counts and latest call times, in one grouped query."""
    dims = (ProbeRun.probe_name, ProbeRun.target_url, ProbeRun.region, ProbeRun.source,
            ProbeRun.framework, ProbeRun.service)  # fmt: skip
    is_ok = ProbeRun.status == "ok"
    q = select(
        *dims,
        func.sum(case((is_ok, 1), else_=0)),
        func.count(),
        func.max(ProbeRun.started_at),
        func.max(case((is_ok, ProbeRun.started_at), else_=None)),
    ).group_by(*dims)
    try:
        with store.engine.connect() as conn:
            rows = list(conn.execute(q))
    except SQLAlchemyError as exc:
        raise translate_db_error(exc, store.url) from exc
    return [
        CallTotals(str(p), str(t), str(r or ""), str(src), str(fw or ""), str(svc or ""),
                   int(ok or 0), int(n), _utc(last), _utc(last_ok) if last_ok is not None else None)
        for p, t, r, src, fw, svc, ok, n, last, last_ok in rows
    ]  # fmt: skip


def turn_histograms(
    store: Store,
    after: int,
    head: int,
    measures: Mapping[str, tuple[Sequence[float], float]],
) -> list[TurnHistogram]:
    """Histograms of turns ``after < id <= head``, one pass over them.

    ``measures`` maps a measure to its bucket bounds (exported units) and its
    scale (stored / exported). Only successful turns that took a measure are
    in its histogram; every turn counts in ``total``.
    """
    dims = (Turn.probe_name, Turn.target_url, Turn.region, Turn.source, Turn.framework, Turn.service)
    cols: list[Any] = [func.count(), func.sum(case((Turn.ok.is_(True), 1), else_=0))]
    for name, (bounds, scale) in measures.items():
        col = getattr(Turn, name)
        taken = and_(Turn.ok.is_(True), col.is_not(None))
        cols.append(func.sum(case((taken, 1), else_=0)))
        cols.append(func.sum(case((taken, col), else_=0.0)))
        cols += [func.sum(case((and_(taken, col <= b * scale), 1), else_=0)) for b in bounds]
    q = select(*dims, *cols).where(Turn.id > after, Turn.id <= head).group_by(*dims)
    try:
        with store.engine.connect() as conn:
            rows = list(conn.execute(q))
    except SQLAlchemyError as exc:
        raise translate_db_error(exc, store.url) from exc
    out = []
    for probe, target, region, source, framework, service, total, ok, *rest in rows:
        hist = TurnHistogram(str(probe), str(target), str(region or ""), str(source),
                             str(framework or ""), str(service or ""), int(total), int(ok or 0))  # fmt: skip
        for name, (bounds, _scale) in measures.items():
            count, value_sum, *per_bucket = rest[: 2 + len(bounds)]
            rest = rest[2 + len(bounds) :]
            hist.measures[name] = (int(count or 0), float(value_sum or 0.0),
                                   [int(n or 0) for n in per_bucket])  # fmt: skip
        out.append(hist)
    return out


class _Cumulative:
    """Histogram state per label set: bucket counts, count and sum, only ever growing."""

    def __init__(self, n_buckets: int) -> None:
        self.buckets = [0] * n_buckets
        self.count = 0
        self.sum = 0.0


class OldStoreCollector(Collector):
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
        self._runs: list[CallTotals] = []
        self._read_at = 0.0

    def refresh(self) -> None:
        """Read what is new in the store (called by ``collect``; public for tests)."""
        head = last_turn_id(self.store)
        if head > self._watermark:
            self._read_turns(self._watermark, head)
            self._watermark = head
        self._runs = call_totals(self.store)

    def _read_turns(self, after: int, head: int) -> None:
        """Fold turns ``after < id <= head`` into the counters, in one pass over them."""
        bounds = {name: (m.buckets, m.scale) for name, m in MEASURES.items()}
        for row in turn_histograms(self.store, after, head, bounds):
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


