"""The store's OpenTelemetry exporter: redacted spans written once each; a store that is down never reaches the host."""

from __future__ import annotations

import time

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SpanExportResult,
)
from sqlalchemy import select

from tests.helpers import EMAIL_SPOKEN, PHONE, redacting_provider
from voiceobs.redact import Redactor
from voiceobs.results import RunResult, utcnow
from voiceobs.store import Store
from voiceobs.store.models import Span as SpanRow
from voiceobs.store.span_exporter import SqlSpanExporter
from voiceobs.tracing import (
    RUN_ID_ATTRIBUTE,
    InMemoryCollector,
    RedactingSpanProcessor,
    redacting_processor,
    setup_tracing,
    spans_to_records,
)


def _rows(store: Store) -> list[SpanRow]:
    with store.session() as s:
        return list(s.scalars(select(SpanRow).order_by(SpanRow.start_ns)))


def test_sql_exporter_writes_redacted_spans(store: Store) -> None:
    provider = setup_tracing(
        "pipeline-x", exporters=[SqlSpanExporter(store)], redactor=Redactor(use_env=False)
    )
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("asr", attributes={RUN_ID_ATTRIBUTE: "r1"}) as span:
        span.set_attribute("voice.transcript", f"email {EMAIL_SPOKEN} phone {PHONE}")
        span.set_attribute("voice.audio_seconds", 2.5)
        span.add_event("partial", {"text": "born on March 3rd 1985"})
    assert provider.force_flush(10_000)
    rows = _rows(store)
    assert [r.name for r in rows] == ["asr"]
    row = rows[0]
    assert row.service_name == "pipeline-x" and row.run_id == "r1"
    assert row.trace_id == format(span.get_span_context().trace_id, "032x")
    assert row.attributes["voice.transcript"] == "email [EMAIL] phone [PHONE]"
    assert row.attributes["voice.audio_seconds"] == 2.5
    assert row.events[0]["attributes"] == {"text": "born on [DOB]"}
    exporter = SqlSpanExporter(store)
    # A batch retried after a partial failure is not stored twice.
    spans = [_finished_span(provider)]
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert exporter.exported == 1 and exporter.dropped == 0
    provider.shutdown()


def _finished_span(provider: TracerProvider) -> ReadableSpan:
    collector = InMemoryCollector()
    processor = redacting_processor(provider)
    assert processor is not None
    processor.add(collector)
    with provider.get_tracer("test").start_as_current_span("late") as span:
        pass
    (finished,) = collector.pop_trace(span.get_span_context().trace_id)
    return finished


def test_collected_spans_save_with_the_run_in_one_transaction(store: Store) -> None:
    collector = InMemoryCollector()
    provider = setup_tracing("probe", processors=[collector], redactor=Redactor(use_env=False))
    tracer = provider.get_tracer("test")
    with (
        tracer.start_as_current_span("call") as call,
        tracer.start_as_current_span("turn", attributes={"heard": f"call {PHONE}"}),
    ):
        pass
    trace_hex = format(call.get_span_context().trace_id, "032x")
    run = RunResult(probe_name="p", target_url="ws://127.0.0.1:1/x", started_at=utcnow())
    run.trace_id = trace_hex
    run.spans = spans_to_records(collector.pop_trace(trace_hex), run_id=run.id)
    assert store.save_run(run)
    stored = store.spans_for_run(run.id)
    assert sorted(s.name for s in stored) == ["call", "turn"]
    assert {s.run_id for s in stored} == {run.id}
    assert next(s for s in stored if s.name == "turn").attributes == {"heard": "call [PHONE]"}


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://postgres@127.0.0.1:1/nothing",  # nothing listens on port 1
        "sqlite:////proc/voiceobs-no-such-dir/x.db",  # a directory that cannot be created
        "nosuchdriver://host/db",  # not a database URL at all
    ],
)
def test_store_down_drops_and_counts_without_raising(url: str) -> None:
    exporter = SqlSpanExporter(url)
    provider = TracerProvider()
    collector = InMemoryCollector()
    provider.add_span_processor(RedactingSpanProcessor(collector, redactor=Redactor(use_env=False)))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("a") as a, tracer.start_as_current_span("b"):
        pass
    spans = collector.pop_trace(a.get_span_context().trace_id)
    started = time.monotonic()
    assert exporter.export(spans) is SpanExportResult.FAILURE
    assert exporter.export(spans[:1]) is SpanExportResult.FAILURE
    assert time.monotonic() - started < 30
    assert exporter.dropped == 3 and exporter.failures == 2 and exporter.exported == 0
    assert exporter.last_error
    exporter.shutdown()
    assert exporter.export(spans) is SpanExportResult.FAILURE
    assert exporter.dropped == 5


def test_store_down_behind_a_batch_processor_never_reaches_the_host() -> None:
    exporter = SqlSpanExporter("postgresql+psycopg://postgres@127.0.0.1:1/nothing")
    provider = redacting_provider(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    for i in range(5):
        with tracer.start_as_current_span(f"s{i}", attributes={"to": PHONE}):
            pass
    provider.force_flush(20_000)
    provider.shutdown()
    assert exporter.dropped == 5 and exporter.exported == 0
    processor = redacting_processor(provider)
    assert processor is not None and processor.forwarded == 5 and processor.failed == 0
