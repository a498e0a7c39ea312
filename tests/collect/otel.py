"""Spans made with the real OpenTelemetry SDK and turned into ``IngestedSpan``s the way the transport does.

A framework that cannot run here (a LiveKit room) is described by building
the span tree it emits, with the SDK's own tracer, ids, parents and times,
then converting each finished span as the collector's transport will:
``voiceobs.tracing.span_to_record`` plus the span's resource attributes and
instrumentation scope.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Span, Status, StatusCode

from voiceobs.collect.model import IngestedSpan
from voiceobs.tracing import span_to_record

#: 2026-05-04T10:00:00Z in Unix nanoseconds: a fixed clock for built traces.
T0 = 1_777_888_800 * 10**9
MS = 10**6


def ingested(span: ReadableSpan) -> IngestedSpan:
    """One finished SDK span as the collector's transport hands it to the assembler."""
    resource = dict(span.resource.attributes) if span.resource else {}
    scope = span.instrumentation_scope.name if span.instrumentation_scope else ""
    return IngestedSpan(span_to_record(span), resource, scope)


class Tracing:
    """A real tracer provider (one resource) whose finished spans are kept in memory."""

    def __init__(self, resource: Mapping[str, Any]) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(resource=Resource.create(dict(resource)))
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def tracer(self, scope: str) -> trace.Tracer:
        """A tracer with the instrumentation scope a framework uses."""
        return self.provider.get_tracer(scope)

    def spans(self) -> list[IngestedSpan]:
        """Every span finished so far, converted, in the order they ended."""
        return [ingested(s) for s in self.exporter.get_finished_spans()]

    @contextmanager
    def span(
        self,
        tracer: trace.Tracer,
        name: str,
        start_ms: float,
        end_ms: float,
        parent: Span | None = None,
        attributes: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> Iterator[Span]:
        """A span from ``start_ms`` to ``end_ms`` after :data:`T0`, under ``parent`` (a root if None).

        Attributes set inside the block land on the span before it ends, as a
        framework sets them while the work runs.
        """
        ctx = (
            trace.set_span_in_context(parent)
            if parent is not None
            else trace.set_span_in_context(trace.INVALID_SPAN)
        )
        s = tracer.start_span(
            name, context=ctx, start_time=T0 + int(start_ms * MS), attributes=dict(attributes or {})
        )
        try:
            yield s
        finally:
            if error is not None:
                s.set_status(Status(StatusCode.ERROR, error))
            s.end(end_time=T0 + int(end_ms * MS))


__all__ = ["MS", "T0", "Tracing", "ingested"]
