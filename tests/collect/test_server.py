"""The collector over real HTTP: a real uvicorn server on loopback, the OpenTelemetry SDK's own
OTLP/HTTP exporter, hand-built OTLP JSON, real SQLite and PostgreSQL stores."""

from __future__ import annotations

import contextlib
import gzip
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace.export import SpanExportResult
from sqlalchemy import text

from tests.collect.conftest import (
    TraceAssembler,
    json_request,
    json_span,
    sdk_sender,
    span_count,
    wait_until,
)
from voiceobs.collect import runner
from voiceobs.collect.ingest import Collector, CollectorSettings
from voiceobs.collect.server import CollectConfig
from voiceobs.collect.webhooks import sign_retell, sign_vapi
from voiceobs.results import RunResult, utcnow
from voiceobs.store import Store
from voiceobs.store.spool import Spool

PB = {"Content-Type": "application/x-protobuf"}
JS = {"Content-Type": "application/json"}


def _settings(**kw: Any) -> CollectorSettings:
    return CollectorSettings(flush_s=0.02, retry_s=0.2, **kw)


@contextlib.contextmanager
def _serve(
    store: Store | str,
    tmp_path: Path,
    *,
    settings: CollectorSettings | None = None,
    config: CollectConfig | None = None,
    assembler: TraceAssembler | None = None,
) -> Iterator[runner.CollectHandle]:
    collector = Collector(
        store,
        assembler=assembler if assembler is not None else TraceAssembler(),
        spool=Spool(tmp_path / "spool"),
        settings=settings or _settings(),
    )
    with runner.running(collector, config) as handle:
        yield handle


@pytest.fixture
def served(store: Store, tmp_path: Path) -> Iterator[runner.CollectHandle]:
    with _serve(store, tmp_path) as handle:
        yield handle


def _metric(handle: runner.CollectHandle, name: str, **labels: str) -> float:
    return handle.collector.metrics.registry.get_sample_value(name, labels or None) or 0.0


def _post(handle: runner.CollectHandle, body: bytes, headers: Mapping[str, str]) -> httpx.Response:
    return httpx.post(f"{handle.url}/v1/traces", content=body, headers=dict(headers), timeout=30)


# -- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip, Compression.Deflate])
def test_the_sdk_exporter_round_trips_through_the_endpoint(
    served: runner.CollectHandle, store: Store, compression: Compression
) -> None:
    provider, _ = sdk_sender(served.url, "pipecat-bot", compression=compression)
    tracer = provider.get_tracer("pipecat")
    with tracer.start_as_current_span("conversation") as conv:
        for i in range(3):
            with tracer.start_as_current_span("turn") as turn:
                turn.set_attribute("turn.user_bot_latency_seconds", 0.5 + i / 10)
                with tracer.start_as_current_span("tts") as tts:
                    tts.set_attribute("metrics.character_count", 12 + i)
    provider.shutdown()
    trace_id = format(conv.get_span_context().trace_id, "032x")
    wait_until(lambda: store.count_runs() == 1)
    spans = store.spans_for_run(trace_id)
    assert sorted(s.name for s in spans) == ["conversation"] + ["tts"] * 3 + ["turn"] * 3
    by_name = {s.name: s for s in spans}
    assert by_name["conversation"].parent_span_id is None
    assert {s.parent_span_id for s in spans if s.name == "turn"} == {by_name["conversation"].span_id}
    assert all(s.service_name == "pipecat-bot" for s in spans)
    assert {s.attributes["metrics.character_count"] for s in spans if s.name == "tts"} == {12, 13, 14}
    assert _metric(served, "voiceobs_collect_spans_received_total", encoding="protobuf") == 7


def test_hand_built_json_round_trips_with_a_json_answer(served: runner.CollectHandle, store: Store) -> None:
    trace = uuid.uuid4().hex.upper()  # hex ids are case-insensitive
    body = orjson.dumps(json_request([json_span(trace, "A1" * 8, "conversation"), json_span(trace, "B2" * 8)]))
    r = _post(served, body, JS)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json() == {}
    wait_until(lambda: span_count(store) == 2 and store.count_runs() == 1)
    assert {s.span_id for s in store.spans_for_run(trace.lower())} == {"a1" * 8, "b2" * 8}


def test_gzip_json(served: runner.CollectHandle, store: Store) -> None:
    body = gzip.compress(orjson.dumps(json_request([json_span(uuid.uuid4().hex, "1" * 16)])))
    r = _post(served, body, {**JS, "Content-Encoding": "gzip"})
    assert r.status_code == 200
    wait_until(lambda: span_count(store) == 1)


# -- partial success and bad input ------------------------------------------------------------


def test_partial_success_in_json_counts_the_spans_with_missing_ids(served: runner.CollectHandle, store: Store) -> None:
    trace = uuid.uuid4().hex
    no_trace = json_span(trace, "2" * 16)
    del no_trace["traceId"]
    body = orjson.dumps(json_request([json_span(trace, "1" * 16), no_trace, json_span(trace, "0" * 16)]))
    r = _post(served, body, JS)
    assert r.status_code == 200
    partial = r.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "2"
    assert "traceId is missing" in partial["errorMessage"] and "spanId is all zeros" in partial["errorMessage"]
    wait_until(lambda: span_count(store) == 1)
    assert _metric(served, "voiceobs_collect_spans_dropped_total", reason="invalid_trace_id") == 1
    assert _metric(served, "voiceobs_collect_spans_dropped_total", reason="invalid_span_id") == 1


def test_partial_success_in_protobuf(served: runner.CollectHandle, store: Store) -> None:
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    now = time.time_ns()
    scope.spans.add(trace_id=uuid.uuid4().bytes, span_id=b"\x01" * 8, name="ok", start_time_unix_nano=now, end_time_unix_nano=now)
    scope.spans.add(trace_id=uuid.uuid4().bytes, span_id=b"", name="no id", start_time_unix_nano=now)
    r = _post(served, request.SerializeToString(), PB)
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-protobuf"
    response = ExportTraceServiceResponse.FromString(r.content)
    assert response.partial_success.rejected_spans == 1
    assert "span_id is missing" in response.partial_success.error_message
    wait_until(lambda: span_count(store) == 1)


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        (b"\x0a\x05\x0a\x03\xff", PB, 400, "not a protobuf ExportTraceServiceRequest"),
        (b'{"resourceSpans": [', JS, 400, "not valid JSON"),
        (b"{}", {"Content-Type": "text/plain"}, 415, "unsupported Content-Type 'text/plain'"),
        (b"{}", {}, 415, "unsupported Content-Type 'none'"),
        (b"{}", {**JS, "Content-Encoding": "br"}, 415, "unsupported Content-Encoding 'br'"),
        (b"\x1f\x8b not really", {**JS, "Content-Encoding": "gzip"}, 400, "not valid gzip"),
    ],
)
def test_bad_requests_get_a_status_in_the_request_encoding(
    served: runner.CollectHandle, body: bytes, headers: dict[str, str], status: int, message: str
) -> None:
    r = _post(served, body, headers)
    assert r.status_code == status
    if headers.get("Content-Type") == PB["Content-Type"]:
        assert status_pb2.Status.FromString(r.content).message.startswith("the body is " + message)
    else:
        assert message in r.json()["message"]
    assert _metric(served, "voiceobs_collect_requests_total", route="/v1/traces", code=str(status)) == 1


def test_bodies_over_the_limit_are_413_with_the_limit(store: Store, tmp_path: Path) -> None:
    with _serve(store, tmp_path, config=CollectConfig(max_body_bytes=4096)) as handle:
        big = orjson.dumps(json_request([json_span(uuid.uuid4().hex, f"{i + 1:016x}") for i in range(40)]))
        assert len(big) > 4096
        r = _post(handle, big, JS)
        assert r.status_code == 413 and "4096 bytes" in r.json()["message"]
        bomb = gzip.compress(b'{"resourceSpans": []' + b" " * 100_000 + b"}")
        assert len(bomb) < 4096
        r = _post(handle, bomb, {**JS, "Content-Encoding": "gzip"})
        assert r.status_code == 413 and "decompressed" in r.json()["message"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds on the stream too
            for _ in range(10):
                yield b" " * 1000

        r = httpx.post(f"{handle.url}/v1/traces", content=chunks(), headers=JS, timeout=30)
        assert r.status_code == 413
    assert span_count(store) == 0


def test_duplicate_and_out_of_order_batches_store_each_span_once(served: runner.CollectHandle, store: Store) -> None:
    trace = uuid.uuid4().hex
    root = json_span(trace, "1" * 16, "conversation")
    children = [json_span(trace, f"{i + 2:016x}", parentSpanId="1" * 16) for i in range(5)]
    for batch in ([children[3], children[1]], children, [root, children[0]], children[::-1], [root]):
        assert _post(served, orjson.dumps(json_request(batch)), JS).status_code == 200
    wait_until(lambda: _metric(served, "voiceobs_collect_spans_accepted_total") == 15)
    wait_until(lambda: _metric(served, "voiceobs_collect_spans_stored_total") + _metric(served, "voiceobs_collect_spans_duplicate_total") == 15)
    assert span_count(store) == 6
    with store.engine.connect() as c:
        assert c.execute(text("SELECT count(DISTINCT span_id) FROM spans")).scalar() == 6


# -- back-pressure -----------------------------------------------------------------------------


@contextlib.contextmanager
def _writer_blocked(store: Store) -> Iterator[None]:
    """Hold the store's write lock from another connection, so the collector's writer waits."""
    if store.backend == "postgresql":
        with store.engine.connect() as conn, conn.begin() as tx:
            conn.exec_driver_sql("LOCK TABLE spans IN ACCESS EXCLUSIVE MODE")
            yield
            tx.rollback()
        return
    import sqlite3

    raw = sqlite3.connect(str(store.engine.url.database), isolation_level=None)
    try:
        raw.execute("BEGIN IMMEDIATE")
        yield
        raw.execute("ROLLBACK")
    finally:
        raw.close()


def test_a_full_queue_is_429_with_retry_after_and_the_sdk_retries_until_stored(store: Store, tmp_path: Path) -> None:
    with _serve(store, tmp_path, settings=_settings(queue_spans=20, batch_spans=5, writer_first_s=0.1)) as handle:
        sent = 0
        with _writer_blocked(store):
            statuses = []
            for _ in range(20):
                batch = [json_span(uuid.uuid4().hex, f"{j + 1:016x}") for j in range(5)]
                r = _post(handle, orjson.dumps(json_request(batch)), JS)
                statuses.append(r.status_code)
                if r.status_code == 200:
                    sent += 5
                else:
                    assert r.status_code == 429 and r.headers["retry-after"] == "1"
                    assert "queue is full" in r.json()["message"]
            assert 429 in statuses and statuses[0] == 200
            provider, _ = sdk_sender(handle.url)
            tracer = provider.get_tracer("t")
            done: list[Any] = []
            threading.Thread(target=lambda: (tracer.start_span("late").end(), done.append(1)), daemon=True).start()
            time.sleep(1.5)  # the exporter got 429 and is waiting Retry-After
            assert not done and _metric(handle, "voiceobs_collect_requests_total", route="/v1/traces", code="429") >= 2
        wait_until(lambda: bool(done), timeout=30, what="the exporter's retry to succeed")
        provider.shutdown()
        wait_until(lambda: span_count(store) == sent + 1, timeout=30)
        assert _metric(handle, "voiceobs_collect_requests_total", route="/v1/traces", code="429") >= statuses.count(429) + 1


# -- health, readiness, metrics ----------------------------------------------------------------


def test_health_readiness_and_metrics(served: runner.CollectHandle) -> None:
    assert httpx.get(f"{served.url}/healthz").text == "ok"
    ready = httpx.get(f"{served.url}/readyz")
    assert ready.status_code == 200 and ready.json()["store"] == "up"
    _post(served, orjson.dumps(json_request([json_span(uuid.uuid4().hex, "1" * 16, "conversation")])), JS)
    wait_until(lambda: _metric(served, "voiceobs_collect_calls_stored_total", via="otlp") == 1)
    page = httpx.get(f"{served.url}/metrics").text
    for series in (
        'voiceobs_collect_spans_received_total{encoding="json"} 1.0',
        "voiceobs_collect_spans_stored_total 1.0",
        'voiceobs_collect_calls_stored_total{via="otlp"} 1.0',
        "voiceobs_collect_queue_depth 0.0",
        "voiceobs_collect_queue_capacity",
        'voiceobs_collect_spool_depth{kind="span_batches"} 0.0',
        'voiceobs_collect_request_seconds_count{route="/v1/traces"} 1.0',
        "voiceobs_collect_write_lag_seconds_count 1.0",
        "voiceobs_collect_store_up 1.0",
    ):
        assert series in page, series


def test_readyz_is_503_when_the_store_is_down_and_the_spool_full(tmp_path: Path) -> None:
    down = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"
    with _serve(down, tmp_path, settings=_settings(spool_max_bytes=1)) as handle:
        assert httpx.get(f"{handle.url}/readyz").json()["store"] == "down"
        r = _post(handle, orjson.dumps(json_request([json_span(uuid.uuid4().hex, "1" * 16)])), JS)
        assert r.status_code == 200  # accepted: the writer finds out the spool is full
        wait_until(lambda: httpx.get(f"{handle.url}/readyz").status_code == 503)
        r = _post(handle, orjson.dumps(json_request([json_span(uuid.uuid4().hex, "1" * 16)])), JS)
        assert r.status_code == 503 and r.headers["retry-after"] == "5"
        assert "spool is full" in r.json()["message"]
        assert _metric(handle, "voiceobs_collect_spans_dropped_total", reason="spool_failed") == 1


# -- webhooks -----------------------------------------------------------------------------------


class _ReportStub:
    """A report adapter shaped like the real ones (``voiceobs.collect.model.CallReportAdapter``)."""

    def __init__(self, name: str, kind: tuple[str, str]) -> None:
        self.name = name
        self.kind = kind

    def parse(self, payload: Mapping[str, Any]) -> RunResult | None:
        key, value = self.kind
        message = payload.get("message", payload)
        if message.get(key) != value:
            return None
        call = message.get("call", {})
        return RunResult(
            id=str(call["id"]).replace("-", "")[:32], probe_name=self.name, target_url="",
            started_at=utcnow(), source="production", framework=self.name,
        )  # fmt: skip


VAPI_SECRET = "vapi-shared-secret-31f2"
RETELL_KEY = "key_retell_7d1c0a"


@pytest.fixture
def webhooks(store: Store, tmp_path: Path) -> Iterator[runner.CollectHandle]:
    config = CollectConfig(
        webhook_secrets={"vapi": VAPI_SECRET, "retell": RETELL_KEY},
        report_adapters={
            "vapi": _ReportStub("vapi", ("type", "end-of-call-report")),
            "retell": _ReportStub("retell", ("event", "call_analyzed")),
        },
    )
    with _serve(store, tmp_path, config=config) as handle:
        yield handle


def _vapi_body(call_id: str, kind: str = "end-of-call-report") -> bytes:
    return orjson.dumps({"message": {"type": kind, "call": {"id": call_id}, "artifact": {"performanceMetrics": {}}}})


def _retell_body(call_id: str, event: str = "call_analyzed") -> bytes:
    return orjson.dumps({"event": event, "call": {"id": call_id, "latency": {"e2e": {"p50": 800}}}})


@pytest.mark.parametrize(
    "headers",
    [
        lambda body: {"x-vapi-secret": VAPI_SECRET},
        lambda body: {"Authorization": f"Bearer {VAPI_SECRET}"},
        lambda body: {"x-vapi-signature": sign_vapi(body, VAPI_SECRET)},
    ],
    ids=["x-vapi-secret", "bearer", "hmac"],
)
def test_vapi_posts_with_a_valid_secret_are_recorded(webhooks: runner.CollectHandle, store: Store, headers: Any) -> None:
    call = uuid.uuid4().hex
    body = _vapi_body(call)
    r = httpx.post(f"{webhooks.url}/webhooks/vapi", content=body, headers={**JS, **headers(body)})
    assert r.status_code == 200 and r.json() == {"status": "recorded", "id": call}
    assert store.get_run(call) is not None


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-vapi-secret": "wrong"}, {"x-vapi-signature": "0" * 64}, {"Authorization": "Bearer nope"}],
    ids=["missing", "wrong-secret", "wrong-hmac", "wrong-bearer"],
)
def test_vapi_posts_without_a_valid_secret_are_401(webhooks: runner.CollectHandle, store: Store, headers: dict[str, str]) -> None:
    r = httpx.post(f"{webhooks.url}/webhooks/vapi", content=_vapi_body(uuid.uuid4().hex), headers={**JS, **headers})
    assert r.status_code == 401 and "signature" in r.json()["error"]
    assert store.count_runs() == 0
    assert _metric(webhooks, "voiceobs_collect_webhooks_total", platform="vapi", outcome="unauthorized") == 1


def test_retell_signatures_valid_invalid_stale_and_missing(webhooks: runner.CollectHandle, store: Store) -> None:
    url = f"{webhooks.url}/webhooks/retell"
    call = uuid.uuid4().hex
    body = _retell_body(call)
    ok = httpx.post(url, content=body, headers={**JS, "x-retell-signature": sign_retell(body, RETELL_KEY, time.time())})
    assert ok.status_code == 200 and store.get_run(call) is not None
    tampered = body.replace(b"800", b"100")
    for headers in (
        {"x-retell-signature": sign_retell(body, RETELL_KEY, time.time())},  # signs other bytes
        {"x-retell-signature": sign_retell(tampered, "another-key", time.time())},
        {"x-retell-signature": sign_retell(tampered, RETELL_KEY, time.time() - 600)},  # stale
        {},
    ):
        r = httpx.post(url, content=tampered, headers={**JS, **headers})
        assert r.status_code == 401
    assert store.count_runs() == 1


def test_webhook_messages_that_are_not_reports_bad_json_and_no_adapter(store: Store, tmp_path: Path) -> None:
    config = CollectConfig(report_adapters={"vapi": _ReportStub("vapi", ("type", "end-of-call-report"))})
    with _serve(store, tmp_path, config=config) as handle:
        url = f"{handle.url}/webhooks/vapi"
        # No secret configured: unsigned posts are accepted.
        r = httpx.post(url, content=_vapi_body("x", kind="status-update"), headers=JS)
        assert r.status_code == 200 and r.json()["status"] == "ignored"
        assert httpx.post(url, content=b"{oops", headers=JS).status_code == 400
        assert httpx.post(url, content=b"[]", headers=JS).status_code == 400
        r = httpx.post(url, content=orjson.dumps({"message": {"type": "end-of-call-report"}}), headers=JS)
        assert r.status_code == 400 and "KeyError" in r.json()["error"]  # the stub needs call.id
        r = httpx.post(f"{handle.url}/webhooks/retell", content=_retell_body("y"), headers=JS)
        assert r.status_code == 501
    assert store.count_runs() == 0


def test_an_empty_export_is_a_success(served: runner.CollectHandle) -> None:
    provider, exporter = sdk_sender(served.url)
    assert exporter.export([]) == SpanExportResult.SUCCESS
    r = _post(served, encode_spans([]).SerializeToString(), PB)
    assert r.status_code == 200 and not ExportTraceServiceResponse.FromString(r.content).HasField("partial_success")
    provider.shutdown()


def test_intake_waits_for_the_writer_while_more_than_a_batch_is_queued(store: Store, tmp_path: Path) -> None:
    settings = _settings(queue_spans=1000, batch_spans=5, writer_first_s=0.5)
    with _serve(store, tmp_path, settings=settings) as handle, _writer_blocked(store):
        for _ in range(2):  # the writer takes the first and waits on the lock; the second stays queued
            body = orjson.dumps(json_request([json_span(uuid.uuid4().hex, f"{j + 1:016x}") for j in range(6)]))
            assert _post(handle, body, JS).status_code == 200
        wait_until(lambda: handle.collector.queue.depth >= 6, what="more than a batch queued")
        start = time.monotonic()
        body = orjson.dumps(json_request([json_span(uuid.uuid4().hex, "1" * 16)]))
        assert _post(handle, body, JS).status_code == 200  # still accepted after the wait
        assert time.monotonic() - start >= 0.5
