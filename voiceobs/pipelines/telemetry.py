"""Prometheus collectors and OpenTelemetry spans for pipeline stages.

Collectors live in a registry the host passes in (never the process-global
one), so two servers in one process, or a server inside a test, never
collide on metric names. Spans go through the OpenTelemetry API only: with no
tracer provider configured they are no-ops, and a host that configures one
(the probe's tests, a real deployment) gets them without any voiceobs setup.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span
from prometheus_client import CollectorRegistry, Histogram

#: Latency buckets (seconds) sized for a voice turn: 5 ms .. 5 s.
LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)

_tracer = trace.get_tracer("voiceobs.pipelines")


class PipelineMetrics:
    """Per-stage latency, micro-batch shape and agent turn latency."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.stage_seconds = Histogram(
            "voiceobs_server_stage_seconds",
            "Wall time of one pipeline stage (vad = one batched inference incl. queue wait).",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "voiceobs_server_batch_size",
            "Rows in one micro-batched model inference.",
            ["model"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=self.registry,
        )
        self.queue_wait = Histogram(
            "voiceobs_server_queue_wait_seconds",
            "Time a request waited in the micro-batch queue before inference started.",
            ["model"],
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5),
            registry=self.registry,
        )
        self.turn_latency = Histogram(
            "voiceobs_server_turn_latency_seconds",
            "Agent: end of caller speech (last voiced VAD window) to first reply frame queued.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )


@contextmanager
def stage_span(
    name: str,
    parent: Context | None,
    metrics: PipelineMetrics | None,
    start_time: float | None = None,
    **attributes: float | int | str,
) -> Iterator[Span]:
    """A span for one stage, timed into the stage histogram as well.

    ``start_time`` (``time.time()`` seconds) lets a stage that began before
    the code knew it was a stage (the VAD hangover) report its true start.
    """
    start_ns = int(start_time * 1e9) if start_time is not None else None
    t0 = time.time() if start_time is None else start_time
    span = _tracer.start_span(name, context=parent, start_time=start_ns)
    for key, value in attributes.items():
        span.set_attribute(key, value)
    try:
        with trace.use_span(span, end_on_exit=False):
            yield span
    finally:
        span.end()
        if metrics is not None:
            metrics.stage_seconds.labels(name).observe(max(0.0, time.time() - t0))


__all__ = ["LATENCY_BUCKETS", "PipelineMetrics", "stage_span"]
