"""The collector's own Prometheus series, in its own registry.

A private :class:`~prometheus_client.CollectorRegistry` (never the global
one) lets tests and the demo run several collectors in one process and read
each one's ``/metrics`` without cross-talk. Every span the collector does
not keep is counted here by reason, so "nothing dropped silently" is
something an alert can check.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class CollectorMetrics:
    """Spans in, spans stored, calls stored, drops by reason, queue and spool depth, latency."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        """Register every series in ``registry`` (a new private one by default)."""
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.spans_received = Counter(
            "voiceobs_collect_spans_received",
            "Spans decoded from OTLP requests, by encoding (protobuf, json).",
            ["encoding"],
            registry=r,
        )
        self.spans_accepted = Counter(
            "voiceobs_collect_spans_accepted",
            "Spans redacted and queued for the store.",
            registry=r,
        )
        self.spans_stored = Counter(
            "voiceobs_collect_spans_stored",
            "Spans written to the store as new rows.",
            registry=r,
        )
        self.spans_duplicate = Counter(
            "voiceobs_collect_spans_duplicate",
            "Spans the store already held (replayed batches, exporter retries): stored once.",
            registry=r,
        )
        self.spans_spooled = Counter(
            "voiceobs_collect_spans_spooled",
            "Spans written to the spool because the store was down.",
            registry=r,
        )
        self.spans_replayed = Counter(
            "voiceobs_collect_spans_replayed",
            "Spooled spans written to the store once it was back.",
            registry=r,
        )
        self.spans_dropped = Counter(
            "voiceobs_collect_spans_dropped",
            "Spans not kept, by reason (invalid ids, malformed, redaction_failed, "
            "store_rejected, spool_failed).",
            ["reason"],
            registry=r,
        )
        self.spans_refused = Counter(
            "voiceobs_collect_spans_refused",
            "Requests' spans answered 429/503 for the sender to retry, by reason "
            "(queue_full, unavailable, stopping).",
            ["reason"],
            registry=r,
        )
        self.span_flags = Counter(
            "voiceobs_collect_span_flags",
            "Spans kept with an ingest flag (end_before_start, future_start).",
            ["flag"],
            registry=r,
        )
        self.calls_stored = Counter(
            "voiceobs_collect_calls_stored",
            "Calls recorded (new, or rewritten as they grew), by where they came from.",
            ["via"],
            registry=r,
        )
        self.calls_spooled = Counter(
            "voiceobs_collect_calls_spooled",
            "Calls written to the spool because the store was down.",
            ["via"],
            registry=r,
        )
        self.calls_dropped = Counter(
            "voiceobs_collect_calls_dropped",
            "Calls not recorded, by reason (lost, assembler_error).",
            ["reason"],
            registry=r,
        )
        self.requests = Counter(
            "voiceobs_collect_requests",
            "Requests answered, by route and HTTP status code.",
            ["route", "code"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "voiceobs_collect_request_seconds",
            "Time to answer a request, by route.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.write_lag_seconds = Histogram(
            "voiceobs_collect_write_lag_seconds",
            "Time from a batch's acceptance to its spans being in the store.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "voiceobs_collect_queue_depth", "Spans queued for the writer.", registry=r
        )
        self.queue_capacity = Gauge(
            "voiceobs_collect_queue_capacity", "Most spans the queue holds.", registry=r
        )
        self.spool_depth = Gauge(
            "voiceobs_collect_spool_depth",
            "Entries waiting in the spool for the store, by kind (span_batches, calls).",
            ["kind"],
            registry=r,
        )
        self.store_up = Gauge(
            "voiceobs_collect_store_up",
            "1 while the store takes writes, 0 while the collector spools.",
            registry=r,
        )
        self.webhooks = Counter(
            "voiceobs_collect_webhooks",
            "Webhook posts, by platform and outcome (recorded, ignored, unauthorized, "
            "bad_request, no_adapter, unavailable).",
            ["platform", "outcome"],
            registry=r,
        )

        self.prunes = Counter(
            "voiceobs_collect_prunes",
            "Retention prunes run on prune_interval, by outcome (ok, failed).",
            ["outcome"],
            registry=r,
        )
        self.pruned_rows = Counter(
            "voiceobs_collect_pruned_rows",
            "Rows the retention prunes removed, by table.",
            ["table"],
            registry=r,
        )

    def totals(self) -> dict[str, int]:
        """Running totals over every label (what the CLI prints when it stops)."""
        out: dict[str, int] = {}
        for family in self.registry.collect():
            if family.type != "counter":
                continue
            name = family.name.removeprefix("voiceobs_collect_")
            out[name] = int(sum(s.value for s in family.samples if s.name.endswith("_total")))
        return out

    def watch(
        self,
        queue_depth: Callable[[], float],
        span_batches: Callable[[], float],
        calls: Callable[[], float],
    ) -> None:
        """Read the queue and spool depths at scrape time, so they are never stale."""
        self.queue_depth.set_function(queue_depth)
        self.spool_depth.labels("span_batches").set_function(span_batches)
        self.spool_depth.labels("calls").set_function(calls)


__all__ = ["CollectorMetrics"]
