"""Tracing: redaction before every exporter, spans into a real store, OTLP over loopback."""

from __future__ import annotations

import gzip
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    SimpleSpanProcessor,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from tests.helpers import EMAIL_SPOKEN, PHONE, redacting_provider
from voiceobs.redact import Redactor
from voiceobs.tracing import (
    DROPPED,
    RUN_ID_ATTRIBUTE,
    InMemoryCollector,
    RedactingSpanProcessor,
    inject_traceparent,
    redacting_processor,
    setup_tracing,
    spans_to_records,
)


def _emit_pii_span(provider: TracerProvider) -> None:
    tracer = provider.get_tracer("test")
    other = tracer.start_span("other")
    other.end()
    with tracer.start_as_current_span(
        f"call {PHONE}",
        kind=SpanKind.CLIENT,
        attributes={
            "voice.transcript": "my number is four one five five five five one two one two"
        },
        links=[Link(other.get_span_context(), {"why": f"mail {EMAIL_SPOKEN}"})],
    ) as span:
        span.set_attribute("caller.email", "John.Smith@gmail.com")
        span.set_attribute("voice.output_chars", 42)
        span.set_attribute("voice.words", ("ok", f"at {PHONE}"))
        span.add_event(f"heard {EMAIL_SPOKEN}", {"text": "card 4111 1111 1111 1111", "n": 3})
        span.set_status(Status(StatusCode.ERROR, "caller said ssn 123-45-6789"))


def test_names_attributes_events_links_status_are_scrubbed() -> None:
    exporter = InMemorySpanExporter()
    _emit_pii_span(redacting_provider(SimpleSpanProcessor(exporter)))
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"other", "call [PHONE]"}
    span = spans["call [PHONE]"]
    attrs = dict(span.attributes or {})
    assert attrs == {
        "voice.transcript": "my number is [PHONE]",
        "caller.email": "[EMAIL]",
        "voice.output_chars": 42,
        "voice.words": ("ok", "at [PHONE]"),
    }
    (event,) = span.events
    assert event.name == "heard [EMAIL]"
    assert dict(event.attributes or {}) == {"text": "card [CARD]", "n": 3}
    assert dict(span.links[0].attributes or {}) == {"why": "mail [EMAIL]"}
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "caller said ssn [SSN]"
    assert span.kind is SpanKind.CLIENT


def test_attributes_given_at_start_are_redacted_on_the_live_span() -> None:
    provider = redacting_provider(SimpleSpanProcessor(InMemorySpanExporter()))
    tracer = provider.get_tracer("test")
    span = tracer.start_span(f"dial {PHONE}", attributes={"to": PHONE, "n": 1})
    try:
        assert span.name == "dial [PHONE]"  # type: ignore[attr-defined]
        assert dict(span.attributes) == {"to": "[PHONE]", "n": 1}  # type: ignore[attr-defined]
    finally:
        span.end()


def test_pseudonyms_correlate_the_same_caller_across_spans() -> None:
    exporter = InMemorySpanExporter()
    provider = redacting_provider(SimpleSpanProcessor(exporter), redactor=Redactor(b"k", use_env=False))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("a", attributes={"t": "call 415 555 1212"}):
        pass
    with tracer.start_as_current_span(
        "b", attributes={"t": "four one five five five five one two one two"}
    ):
        pass
    a, b = exporter.get_finished_spans()
    assert a.attributes is not None and b.attributes is not None
    assert a.attributes["t"] == "call " + str(b.attributes["t"])
    assert str(b.attributes["t"]).startswith("[PHONE:")


class _BrokenRedactor(Redactor):
    """A redactor with a bug: it fails on any value it is asked about."""

    def redact_value(self, value: Any, max_chars: int | None = None) -> Any:
        raise RuntimeError("redactor bug")


class _BrokenPolicyRedactor(Redactor):
    """A redactor whose attribute policy step fails."""

    def redact_attributes(self, mapping: Any) -> dict[str, Any]:
        raise RuntimeError("policy bug")


@pytest.mark.parametrize("broken", [_BrokenRedactor, _BrokenPolicyRedactor])
def test_failing_redaction_drops_the_span_and_never_raises(broken: type[Redactor]) -> None:
    exporter = InMemorySpanExporter()
    processor = RedactingSpanProcessor(
        SimpleSpanProcessor(exporter), redactor=broken(use_env=False)
    )
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("test")
    for _ in range(3):
        with tracer.start_as_current_span("call", attributes={"to": PHONE}):
            pass
    assert exporter.get_finished_spans() == ()  # never exported raw
    assert processor.dropped == 3
    assert processor.forwarded == 0


def test_span_attributes_follow_the_redaction_policy() -> None:
    """Production spans: SIP numbers, participant identities, chat contexts, URLs, credentials."""
    exporter = InMemorySpanExporter()
    redactor = Redactor(b"k", use_env=False)
    provider = redacting_provider(SimpleSpanProcessor(exporter), redactor=redactor)
    chat = json.dumps(
        [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "my name is Priya Patel, call me on 415 555 1212"},
        ]
    )
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span(
        "llm",
        attributes={
            "sip.phoneNumber": "+14155551212",
            "lk.pii.participant_identity": "sip_+14155551212",
            "lk.pii.chat_ctx": chat,
            "url.full": "wss://bot.example.com/agent?token=SECRETTOKEN123&room=7",
            "http.request.header.authorization": "Bearer SECRETTOKEN123",
            "gen_ai.usage.input_tokens": 812,
        },
    ) as span:
        span.set_attribute(
            "lk.pii.user_transcript", "it's four one five five five five one two one two"
        )
        span.set_attribute("exception.stacktrace", "x" * 20_000)
        span.add_event(
            "tool", {"lk.pii.function_tool.arguments": json.dumps({"phone": "+14155551212"})}
        )
    (done,) = exporter.get_finished_spans()
    attrs = dict(done.attributes or {})
    phone = redactor.pseudonym("PHONE", "+14155551212")
    assert attrs["sip.phoneNumber"] == attrs["lk.pii.participant_identity"] == phone
    assert attrs["lk.pii.user_transcript"] == f"it's {phone}"
    messages = json.loads(attrs["lk.pii.chat_ctx"])
    assert messages[0]["content"] == "You are a helpful assistant."
    assert phone in messages[1]["content"] and "Priya" not in messages[1]["content"]
    assert attrs["url.full"].startswith("wss://bot.example.com/agent?token=[SECRET:")
    assert "http.request.header.authorization" not in attrs
    assert "SECRETTOKEN123" not in json.dumps(attrs)
    assert attrs["gen_ai.usage.input_tokens"] == 812
    assert len(attrs["exception.stacktrace"]) <= redactor.policy.max_chars
    assert attrs["exception.stacktrace"].endswith("chars cut]")
    (event,) = done.events
    assert json.loads(event.attributes["lk.pii.function_tool.arguments"]) == {"phone": phone}  # type: ignore[index]


def test_a_dropped_attribute_is_blanked_on_the_live_span_and_gone_at_the_end() -> None:
    exporter = InMemorySpanExporter()
    provider = redacting_provider(SimpleSpanProcessor(exporter))
    span = provider.get_tracer("test").start_span("s", attributes={"password": "hunter2", "n": 1})
    try:
        assert dict(span.attributes) == {"password": DROPPED, "n": 1}  # type: ignore[attr-defined]
    finally:
        span.end()
    (done,) = exporter.get_finished_spans()
    assert dict(done.attributes or {}) == {"n": 1}


class _RaisingProcessor(SpanProcessor):
    def on_start(self, span: Any, parent_context: Any = None) -> None:
        raise RuntimeError("downstream bug at start")

    def on_end(self, span: ReadableSpan) -> None:
        raise RuntimeError("downstream bug at end")


def test_a_failing_downstream_processor_does_not_stop_the_others() -> None:
    exporter = InMemorySpanExporter()
    processor = RedactingSpanProcessor(
        _RaisingProcessor(), SimpleSpanProcessor(exporter), redactor=Redactor(use_env=False)
    )
    provider = TracerProvider()
    provider.add_span_processor(processor)
    with provider.get_tracer("test").start_as_current_span("x"):
        pass
    assert [s.name for s in exporter.get_finished_spans()] == ["x"]
    assert processor.failed == 2


def test_records_are_json_safe_with_hex_ids_and_service() -> None:
    collector = InMemoryCollector()
    provider = setup_tracing("probe-test", processors=[collector], redactor=Redactor(use_env=False))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("probe.run") as root:
        root.set_attribute(RUN_ID_ATTRIBUTE, "run-1")
        with tracer.start_as_current_span("turn", kind=SpanKind.CLIENT) as turn:
            turn.set_attribute("score", float("nan"))
            turn.set_attribute("tags", ["a", "b"])
            turn.add_event("sent", {"frames": 50})
    trace_id = root.get_span_context().trace_id
    spans = collector.pop_trace(format(trace_id, "032x"))
    assert collector.pop_trace(trace_id) == []
    records = {r.name: r for r in spans_to_records(spans)}
    run, turn_rec = records["probe.run"], records["turn"]
    assert run.trace_id == format(trace_id, "032x") and len(run.trace_id) == 32
    assert len(run.span_id) == 16 and run.parent_span_id is None
    assert turn_rec.parent_span_id == run.span_id
    assert run.run_id == "run-1" and turn_rec.run_id is None
    assert turn_rec.kind == "CLIENT" and turn_rec.service_name == "probe-test"
    assert turn_rec.attributes == {"score": "nan", "tags": ["a", "b"]}
    assert turn_rec.events[0]["name"] == "sent"
    assert turn_rec.events[0]["attributes"] == {"frames": 50}
    assert turn_rec.end_ns >= turn_rec.start_ns > 0
    assert all(r.run_id == "forced" for r in spans_to_records(spans, run_id="forced"))


def test_collector_bounds_memory() -> None:
    collector = InMemoryCollector(max_traces=2, max_spans_per_trace=2)
    provider = redacting_provider(collector)
    tracer = provider.get_tracer("test")
    roots = []
    for _ in range(3):
        with tracer.start_as_current_span("root") as root:
            for _ in range(3):
                with tracer.start_as_current_span("child"):
                    pass
        roots.append(root.get_span_context().trace_id)
    assert collector.trace_ids() == roots[1:]
    # Each trace ends 4 spans and keeps 2 (3 traces x 2 refused), then the first is evicted (2).
    assert collector.dropped == 3 * 2 + 2
    assert len(collector.pop_trace(roots[2])) == 2


# -- OTLP over loopback -------------------------------------------------------------------


class _Receiver(http.server.BaseHTTPRequestHandler):
    posts: list[tuple[str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.server.posts.append((self.path, body))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def otlp_receiver() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.posts = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _received_spans(server: http.server.ThreadingHTTPServer) -> dict[str, dict[str, Any]]:
    spans: dict[str, dict[str, Any]] = {}
    for path, body in server.posts:  # type: ignore[attr-defined]
        assert path == "/v1/traces"
        request = ExportTraceServiceRequest.FromString(body)
        for rs in request.resource_spans:
            service = {a.key: a.value.string_value for a in rs.resource.attributes}
            for ss in rs.scope_spans:
                for span in ss.spans:
                    attrs = {a.key: a.value for a in span.attributes}
                    spans[span.name] = {"service": service["service.name"], "attrs": attrs}
    return spans


@pytest.mark.slow
def test_spans_leave_the_process_over_otlp_redacted(
    otlp_receiver: http.server.ThreadingHTTPServer,
) -> None:
    port = otlp_receiver.server_address[1]
    provider = setup_tracing(
        "otlp-test", otlp_endpoint=f"http://127.0.0.1:{port}", redactor=Redactor(use_env=False)
    )
    with provider.get_tracer("test").start_as_current_span(f"call {PHONE}") as span:
        span.set_attribute("voice.transcript", f"it's {EMAIL_SPOKEN}")
        span.set_attribute("voice.output_chars", 7)
    assert provider.force_flush(10_000)
    provider.shutdown()
    spans = _received_spans(otlp_receiver)
    assert set(spans) == {"call [PHONE]"}
    got = spans["call [PHONE]"]
    assert got["service"] == "otlp-test"
    assert got["attrs"]["voice.transcript"].string_value == "it's [EMAIL]"
    assert got["attrs"]["voice.output_chars"].int_value == 7


@pytest.mark.slow
def test_otlp_endpoint_from_environment(
    otlp_receiver: http.server.ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = otlp_receiver.server_address[1]
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    provider = setup_tracing("env-test", redactor=Redactor(use_env=False))
    with provider.get_tracer("test").start_as_current_span("turn"):
        pass
    assert provider.force_flush(10_000)
    provider.shutdown()
    assert set(_received_spans(otlp_receiver)) == {"turn"}


def test_no_exporters_without_store_or_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    processor = redacting_processor(setup_tracing("bare"))
    assert processor is not None and processor.processors == ()


# -- W3C trace context --------------------------------------------------------------------


def test_traceparent_round_trip_joins_the_remote_trace() -> None:
    exporter = InMemorySpanExporter()
    provider = redacting_provider(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    assert inject_traceparent() == {}  # no current span: nothing to send
    with tracer.start_as_current_span("probe.turn") as parent:
        carrier = inject_traceparent()
    ctx = parent.get_span_context()
    assert (
        carrier["traceparent"] == f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"
    )
    assert ctx.trace_flags & 0x01  # sampled, so the far side records its spans too
    # The far side (a pipeline server) continues the trace from the start message.
    remote = TraceContextTextMapPropagator().extract(carrier)
    with tracer.start_as_current_span("server.turn", context=remote):
        pass
    server = next(s for s in exporter.get_finished_spans() if s.name == "server.turn")
    assert server.context is not None and server.parent is not None
    assert server.context.trace_id == ctx.trace_id
    assert server.parent.span_id == ctx.span_id and server.parent.is_remote
