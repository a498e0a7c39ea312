"""OpenTelemetry set-up for voiceobs: redaction in front of every exporter, spans into SQL.

The processor chain is built so that no exporter can see raw data:
``RedactingSpanProcessor`` is the only processor registered on the provider
and it owns the downstream processors (batching to the store, OTLP, an
in-memory collector), handing each of them a redacted copy of every span.
Attributes (of the span, its events and links) are redacted by key and by
value through the redaction policy (``Redactor.redact_attributes``): keys a
framework marks personal are pseudonymised or dropped, free text is
redacted field by field. A span that cannot be redacted is dropped, never
exported raw.

Telemetry must never break the call it watches, so every hook here catches
its own errors, logs them, and counts what it dropped; the counts are plain
attributes (``dropped``, ``failed``) so a probe or a health endpoint can
report them.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import Link
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.status import Status
from opentelemetry.util.types import Attributes

from voiceobs.redact import Redactor, default_redactor
from voiceobs.results import SpanRecord

logger = logging.getLogger(__name__)

#: Span attribute that ties a span to a probe run when it is exported on its own.
RUN_ID_ATTRIBUTE = "voiceobs.run_id"

#: Column widths of the spans table; longer values are cut rather than failing the batch.
_NAME_MAX = 200

#: What a live span holds, until it ends, for an attribute the redaction policy drops.
DROPPED = "[DROPPED]"

#: How long an OTLP export may take before it is abandoned (every wait has a deadline).
OTLP_TIMEOUT_S = 10.0

_PROPAGATOR = TraceContextTextMapPropagator()


class RedactingSpanProcessor(SpanProcessor):
    """Scrubs span names, attributes, events, links and status text before any exporter.

    It wraps the processors that export, instead of sitting beside them,
    because processors registered side by side all receive the same raw
    span: only a wrapper can guarantee that what reaches an exporter is the
    redacted copy.
    """

    def __init__(self, *processors: SpanProcessor, redactor: Redactor | None = None) -> None:
        """Redact with ``redactor`` (default: the shared one, keyed by ``VOICEOBS_REDACT_KEY``)."""
        self.redactor = redactor or default_redactor()
        self._processors: list[SpanProcessor] = list(processors)
        self._lock = threading.Lock()
        #: Spans dropped because redaction failed (never exported raw).
        self.dropped = 0
        #: Errors raised by downstream processors and swallowed here.
        self.failed = 0
        #: Spans handed on, redacted.
        self.forwarded = 0

    @property
    def processors(self) -> tuple[SpanProcessor, ...]:
        """The downstream processors, in the order they receive spans."""
        return tuple(self._processors)

    def add(self, processor: SpanProcessor) -> None:
        """Put another processor behind redaction (an exporter, a collector)."""
        with self._lock:
            self._processors = [*self._processors, processor]

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Redact what the span already has, so live readers see no raw data either."""
        try:
            name = self.redactor.redact_text(span.name)
            if name is not span.name:
                span.update_name(name)
            attrs = dict(span.attributes or {})
            clean = self.redactor.redact_attributes(attrs)
            for key, value in attrs.items():
                if key not in clean:
                    # A live span cannot lose an attribute; its value goes now, the key at the end.
                    span.set_attribute(key, DROPPED)
                elif clean[key] is not value:
                    span.set_attribute(key, clean[key])
        except Exception:  # monitoring never throws into the host
            logger.debug("redaction at span start failed", exc_info=True)
        for processor in self._processors:
            try:
                processor.on_start(span, parent_context=parent_context)
            except Exception:
                self.failed += 1
                logger.warning("span processor %r failed on start", processor, exc_info=True)

    def on_end(self, span: ReadableSpan) -> None:
        """Hand a redacted copy to every downstream processor; drop the span if redaction fails."""
        try:
            clean = redact_span(span, self.redactor)
        except Exception:
            self.dropped += 1
            # The span itself is not logged: it is exactly what could not be made safe.
            logger.warning(
                "span dropped: redaction failed (%d dropped so far)", self.dropped, exc_info=True
            )
            return
        self.forwarded += 1
        for processor in self._processors:
            try:
                processor.on_end(clean)
            except Exception:
                self.failed += 1
                logger.warning("span processor %r failed on end", processor, exc_info=True)

    def shutdown(self) -> None:
        """Shut down every downstream processor (each flushes what it holds)."""
        for processor in self._processors:
            try:
                processor.shutdown()
            except Exception:
                self.failed += 1
                logger.warning("span processor %r failed on shutdown", processor, exc_info=True)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush every downstream processor; True only if all of them flushed in time."""
        ok = True
        for processor in self._processors:
            try:
                ok = bool(processor.force_flush(timeout_millis)) and ok
            except Exception:
                self.failed += 1
                ok = False
                logger.warning("span processor %r failed on flush", processor, exc_info=True)
        return ok


def _redact_attrs(attributes: Attributes, redactor: Redactor) -> dict[str, Any]:
    return redactor.redact_attributes(attributes or {})


def redact_span(span: ReadableSpan, redactor: Redactor) -> ReadableSpan:
    """A copy of ``span`` with every piece of free text redacted.

    Attributes of the span, its events and its links go through the
    redaction policy (by key, then by value). Ids, times, kind and resource
    are kept: they identify the span, not the caller. Dropped-attribute and
    dropped-event counts are carried over so exporters still report
    truncation truthfully.
    """
    attributes = BoundedAttributes(
        maxlen=None, attributes=_redact_attrs(span.attributes, redactor), immutable=True
    )
    attributes.dropped = span.dropped_attributes
    events = BoundedList.from_seq(
        None,
        [
            Event(redactor.redact_text(e.name), _redact_attrs(e.attributes, redactor), e.timestamp)
            for e in span.events
        ],
    )
    events.dropped = span.dropped_events
    links = BoundedList.from_seq(
        None, [Link(link.context, _redact_attrs(link.attributes, redactor)) for link in span.links]
    )
    links.dropped = span.dropped_links
    status = span.status
    if status.description:
        status = Status(status.status_code, redactor.redact_text(status.description))
    copy = ReadableSpan(
        name=redactor.redact_text(span.name),
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=events,
        links=links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )
    return copy


# -- storable records ---------------------------------------------------------------------


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON (and PostgreSQL's json type) has no NaN or infinity
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def span_to_record(span: ReadableSpan, run_id: str | None = None) -> SpanRecord:
    """One finished span in the store's shape (hex ids, names of enums, JSON-safe values)."""
    ctx = span.context
    if ctx is None:
        raise ValueError(
            f"span {span.name!r} has no context; only finished SDK spans can be stored"
        )
    attributes = _json_safe(dict(span.attributes or {}))
    events = [
        {
            "name": e.name,
            "timestamp_ns": e.timestamp,
            "attributes": _json_safe(dict(e.attributes or {})),
        }
        for e in span.events
    ]
    start = span.start_time or 0
    service = span.resource.attributes.get("service.name", "") if span.resource else ""
    return SpanRecord(
        trace_id=format(ctx.trace_id, "032x"),
        span_id=format(ctx.span_id, "016x"),
        parent_span_id=format(span.parent.span_id, "016x") if span.parent else None,
        name=span.name[:_NAME_MAX],
        start_ns=start,
        end_ns=span.end_time or start,
        run_id=run_id or _str_or_none(attributes.get(RUN_ID_ATTRIBUTE)),
        kind=span.kind.name,
        service_name=str(service)[:_NAME_MAX],
        status_code=span.status.status_code.name,
        status_message=span.status.description or None,
        attributes=attributes,
        events=events,
    )


def _str_or_none(value: Any) -> str | None:
    return str(value) if value else None


def spans_to_records(spans: Iterable[ReadableSpan], run_id: str | None = None) -> list[SpanRecord]:
    """Convert finished spans for ``Store.save_spans`` or ``RunResult.spans``.

    ``run_id`` overrides the ``voiceobs.run_id`` attribute, so a probe can tag
    the spans it collected without having set the attribute on each one.
    """
    return [span_to_record(s, run_id) for s in spans]


class InMemoryCollector(SpanProcessor):
    """Keeps finished spans per trace so a probe can save them with its results.

    It is a processor, not an exporter behind a batch queue, so a span is
    available the moment it ends: the probe pops its trace right after the
    call and writes results and spans in one transaction. Memory is bounded:
    past ``max_traces`` the oldest trace is evicted and counted in ``dropped``.
    """

    def __init__(self, max_traces: int = 1024, max_spans_per_trace: int = 10_000) -> None:
        """Bound memory to ``max_traces`` traces of at most ``max_spans_per_trace`` spans."""
        self._traces: OrderedDict[int, list[ReadableSpan]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_traces = max_traces
        self.max_spans_per_trace = max_spans_per_trace
        #: Spans evicted or refused because a bound was reached.
        self.dropped = 0

    def on_end(self, span: ReadableSpan) -> None:
        """Keep the span under its trace id."""
        if span.context is None:
            return
        trace_id = span.context.trace_id
        with self._lock:
            spans = self._traces.get(trace_id)
            if spans is None:
                if len(self._traces) >= self.max_traces:
                    _, evicted = self._traces.popitem(last=False)
                    self.dropped += len(evicted)
                spans = self._traces[trace_id] = []
            if len(spans) >= self.max_spans_per_trace:
                self.dropped += 1
                return
            spans.append(span)

    def pop_trace(self, trace_id: int | str) -> list[ReadableSpan]:
        """Remove and return the finished spans of one trace (id as int or 32-digit hex)."""
        key = int(trace_id, 16) if isinstance(trace_id, str) else trace_id
        with self._lock:
            return self._traces.pop(key, [])

    def trace_ids(self) -> list[int]:
        """The traces held now, oldest first."""
        with self._lock:
            return list(self._traces)

    def shutdown(self) -> None:
        """Forget everything held."""
        with self._lock:
            self._traces.clear()


# -- provider -----------------------------------------------------------------------------


def _otlp_traces_url(endpoint: str) -> str:
    # OTEL_EXPORTER_OTLP_ENDPOINT is a base URL to which the signal path is added.
    base = endpoint.rstrip("/")
    return base if base.endswith("/v1/traces") else base + "/v1/traces"


def otlp_endpoint_from_environment() -> str | None:
    """The OTLP endpoint the SDK's own variables name (signal-specific first), if any."""
    return (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or None
    )


def setup_tracing(
    service_name: str,
    *,
    exporters: Sequence[SpanExporter] = (),
    otlp_endpoint: str | None = None,
    redactor: Redactor | None = None,
    processors: Sequence[SpanProcessor] = (),
    resource_attributes: Mapping[str, str] | None = None,
    set_global: bool = False,
) -> TracerProvider:
    """A tracer provider whose every exporter sits behind redaction.

    Spans go to each of ``exporters`` (batched; e.g. the store's
    ``voiceobs.store.span_exporter.SqlSpanExporter``), to OTLP/HTTP when ``otlp_endpoint``
    or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_ENDPOINT``
    is set, and to any extra ``processors`` (an ``InMemoryCollector`` for a
    probe). The global provider is left alone unless ``set_global``: a
    library that replaces it silently takes over its host's tracing.
    """
    attrs: dict[str, str] = {"service.name": service_name}
    attrs.update(resource_attributes or {})
    provider = TracerProvider(resource=Resource.create(attrs))
    redacting = RedactingSpanProcessor(redactor=redactor)
    for exporter in exporters:
        redacting.add(BatchSpanProcessor(exporter))
    explicit = otlp_endpoint is not None
    endpoint = (
        otlp_endpoint
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )
    if endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        # The signal-specific variable is already the full URL; the others are base URLs.
        full = (
            endpoint
            if not explicit and os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            else _otlp_traces_url(endpoint)
        )
        redacting.add(BatchSpanProcessor(OTLPSpanExporter(endpoint=full, timeout=OTLP_TIMEOUT_S)))
    for processor in processors:
        redacting.add(processor)
    provider.add_span_processor(redacting)
    if set_global:
        trace.set_tracer_provider(provider)
    return provider


def redacting_processor(provider: TracerProvider) -> RedactingSpanProcessor | None:
    """The ``RedactingSpanProcessor`` that ``setup_tracing`` registered, to add processors later."""
    multi = getattr(provider, "_active_span_processor", None)
    for processor in getattr(multi, "_span_processors", ()):
        if isinstance(processor, RedactingSpanProcessor):
            return processor
    return None


# -- W3C trace context --------------------------------------------------------------------


def inject_traceparent(context: Context | None = None) -> dict[str, str]:
    """``traceparent`` (and ``tracestate``) for ``context`` (default: the current one).

    Empty when there is no valid span, so a caller can always merge it into
    a start message. W3C is used regardless of the globally configured
    propagator, because that is what the wire protocols carry.
    """
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=context)
    return carrier


__all__ = [
    "DROPPED",
    "OTLP_TIMEOUT_S",
    "RUN_ID_ATTRIBUTE",
    "InMemoryCollector",
    "RedactingSpanProcessor",
    "inject_traceparent",
    "otlp_endpoint_from_environment",
    "redact_span",
    "redacting_processor",
    "setup_tracing",
    "span_to_record",
    "spans_to_records",
]
