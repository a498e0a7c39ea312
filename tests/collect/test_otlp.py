"""OTLP/HTTP decoding and responses, both encodings, exactly as the specification writes them."""

from __future__ import annotations

import gzip
import time
import zlib

import orjson
import pytest
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from tests.collect.conftest import json_request, json_span, kv
from voiceobs.collect import otlp

TRACE = "5B8EFFF798038103D269B633813FC60C"
SPAN = "EEE19B7EC3C1B174"
NOW = time.time_ns()


def _sdk_spans() -> list:
    """Real SDK spans, as an exporter would send them."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "pipecat-bot", "deployment.environment": "prod"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("pipecat", "0.0.90")
    with tracer.start_as_current_span("conversation", kind=SpanKind.SERVER) as conv:
        conv.set_attribute("conversation.id", "c-1")
        with tracer.start_as_current_span("tts") as tts:
            tts.set_attribute("metrics.ttfb", 0.125)
            tts.set_attribute("metrics.character_count", 42)
            tts.set_attribute("voice.flags", [True, False])
            tts.set_attribute("voice.rates", [8000.5, 16000.25])
            tts.add_event("first_byte", {"bytes": 320})
            tts.set_status(Status(StatusCode.ERROR, "upstream closed"))
    provider.shutdown()
    return list(memory.get_finished_spans())


def test_protobuf_from_the_sdk_encoder_round_trips_ids_kinds_status_events_and_values() -> None:
    spans = _sdk_spans()
    body = encode_spans(spans).SerializeToString()
    decoded = otlp.decode(body, otlp.PROTOBUF, NOW)
    assert decoded.rejected_count == 0 and decoded.accepted == 2
    (resource,) = decoded.resources
    assert resource.resource["service.name"] == "pipecat-bot"
    assert resource.scopes[0].name == "pipecat"
    records = {r.name: r for r in resource.scopes[0].spans}
    sdk = {s.name: s for s in spans}
    tts, conv = records["tts"], records["conversation"]
    assert tts.trace_id == format(sdk["tts"].context.trace_id, "032x")
    assert tts.span_id == format(sdk["tts"].context.span_id, "016x")
    assert tts.parent_span_id == conv.span_id and conv.parent_span_id is None
    assert (tts.start_ns, tts.end_ns) == (sdk["tts"].start_time, sdk["tts"].end_time)
    assert conv.kind == "SERVER" and tts.kind == "INTERNAL"
    assert (tts.status_code, tts.status_message) == ("ERROR", "upstream closed")
    assert tts.service_name == "pipecat-bot"
    assert tts.attributes == {
        "metrics.ttfb": 0.125,
        "metrics.character_count": 42,
        "voice.flags": [True, False],
        "voice.rates": [8000.5, 16000.25],
    }
    assert tts.events == [
        {"name": "first_byte", "timestamp_ns": sdk["tts"].events[0].timestamp, "attributes": {"bytes": 320}}
    ]


def test_json_hex_ids_string_int64s_and_integer_enums() -> None:
    span = json_span(
        TRACE,
        SPAN,
        "llm",
        parentSpanId="00F067AA0BA902B7",
        attributes=[
            kv("gen_ai.usage.input_tokens", 1200),
            {"key": "n", "value": {"intValue": 7}},  # int64 as a number is accepted too
            {"key": "ratio", "value": {"doubleValue": 0.5}},
            {"key": "nan", "value": {"doubleValue": "NaN"}},
            {"key": "raw", "value": {"bytesValue": "AQID"}},
            {"key": "list", "value": {"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": "2"}]}}},
            {"key": "map", "value": {"kvlistValue": {"values": [kv("inner", True)]}}},
            {"key": "empty", "value": {}},
        ],
        events=[{"timeUnixNano": str(NOW), "name": "e", "attributes": [kv("k", "v")]}],
        status={"code": 2, "message": "boom"},
    )
    span["kind"] = 3
    decoded = otlp.decode(orjson.dumps(json_request([span])), otlp.JSON, NOW)
    (record,) = decoded.resources[0].scopes[0].spans
    assert record.trace_id == TRACE.lower() and record.span_id == SPAN.lower()
    assert record.parent_span_id == "00f067aa0ba902b7"
    assert record.kind == "CLIENT" and record.status_code == "ERROR" and record.status_message == "boom"
    assert record.attributes == {
        "gen_ai.usage.input_tokens": 1200,
        "n": 7,
        "ratio": 0.5,
        "nan": "NaN",
        "raw": "010203",
        "list": ["a", 2],
        "map": {"inner": True},
        "empty": None,
    }
    assert record.events == [{"name": "e", "timestamp_ns": NOW, "attributes": {"k": "v"}}]
    assert record.service_name == "bot"


def test_protobuf_and_json_of_the_same_spans_decode_alike() -> None:
    spans = _sdk_spans()
    request = encode_spans(spans)
    from google.protobuf.json_format import MessageToDict

    doc = MessageToDict(request)  # proto3 JSON: base64 ids, which OTLP JSON replaces with hex
    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for s in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in s:
                        import base64

                        s[key] = base64.b64decode(s[key]).hex()
                s["kind"] = {"SPAN_KIND_SERVER": 2, "SPAN_KIND_INTERNAL": 1}[s["kind"]]
                if "status" in s and "code" in s["status"]:
                    s["status"]["code"] = {"STATUS_CODE_ERROR": 2, "STATUS_CODE_OK": 1}[s["status"]["code"]]
    from_pb = otlp.decode(request.SerializeToString(), otlp.PROTOBUF, NOW)
    from_json = otlp.decode(orjson.dumps(doc), otlp.JSON, NOW)
    assert from_json.resources[0].scopes[0].spans == from_pb.resources[0].scopes[0].spans


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("traceId", None, "invalid_trace_id"),
        ("traceId", "abc", "invalid_trace_id"),
        ("traceId", "0" * 32, "invalid_trace_id"),
        ("traceId", "zz" * 16, "invalid_trace_id"),
        ("spanId", None, "invalid_span_id"),
        ("spanId", "0" * 16, "invalid_span_id"),
        ("parentSpanId", "123", "invalid_parent_span_id"),
        ("startTimeUnixNano", None, "missing_start_time"),
        ("startTimeUnixNano", "soon", "malformed_span"),
        ("kind", "SPAN_KIND_SERVER", "malformed_span"),
    ],
)
def test_a_span_with_a_bad_id_or_field_is_rejected_alone(field: str, value: object, reason: str) -> None:
    bad = json_span(TRACE, SPAN)
    if value is None:
        bad.pop(field)
    else:
        bad[field] = value
    good = json_span(TRACE, "1" * 16)
    decoded = otlp.decode(orjson.dumps(json_request([bad, good])), otlp.JSON, NOW)
    assert decoded.accepted == 1 and decoded.rejected == {reason: 1}
    assert decoded.resources[0].scopes[0].spans[0].span_id == "1" * 16
    body = orjson.loads(otlp.success_body(otlp.JSON, decoded))
    assert body["partialSuccess"]["rejectedSpans"] == "1"
    assert "rejected 1 span(s)" in body["partialSuccess"]["errorMessage"]


def test_protobuf_spans_with_missing_or_short_ids_are_rejected_and_counted() -> None:
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    ok = scope.spans.add(trace_id=bytes(range(1, 17)), span_id=bytes(range(1, 9)), name="ok", start_time_unix_nano=NOW, end_time_unix_nano=NOW + 5)
    scope.spans.add(trace_id=b"", span_id=bytes(range(1, 9)), name="no trace", start_time_unix_nano=NOW)
    scope.spans.add(trace_id=bytes(range(1, 17)), span_id=b"\x01\x02", name="short", start_time_unix_nano=NOW)
    scope.spans.add(trace_id=bytes(16), span_id=bytes(range(1, 9)), name="zeros", start_time_unix_nano=NOW)
    decoded = otlp.decode(request.SerializeToString(), otlp.PROTOBUF, NOW)
    assert decoded.accepted == 1 and ok.name == "ok"
    assert decoded.rejected == {"invalid_trace_id": 2, "invalid_span_id": 1}
    response = ExportTraceServiceResponse.FromString(otlp.success_body(otlp.PROTOBUF, decoded))
    assert response.partial_success.rejected_spans == 3
    assert "trace_id is missing" in response.partial_success.error_message


def test_full_success_leaves_partial_success_unset() -> None:
    decoded = otlp.decode(orjson.dumps(json_request([json_span(TRACE, SPAN)])), otlp.JSON, NOW)
    assert otlp.success_body(otlp.JSON, decoded) == b"{}"
    assert not ExportTraceServiceResponse.FromString(otlp.success_body(otlp.PROTOBUF, decoded)).HasField("partial_success")


def test_clock_skew_is_kept_and_flagged() -> None:
    backwards = json_span(TRACE, "1" * 16, startTimeUnixNano=str(NOW), endTimeUnixNano=str(NOW - 10**9))
    future = json_span(TRACE, "2" * 16, startTimeUnixNano=str(NOW + 3600 * 10**9), endTimeUnixNano=str(NOW + 3601 * 10**9))
    near = json_span(TRACE, "3" * 16, startTimeUnixNano=str(NOW + 10**9), endTimeUnixNano=str(NOW + 2 * 10**9))
    decoded = otlp.decode(orjson.dumps(json_request([backwards, future, near])), otlp.JSON, NOW)
    by_id = {r.span_id: r for r in decoded.resources[0].scopes[0].spans}
    assert by_id["1" * 16].end_ns == by_id["1" * 16].start_ns == NOW
    assert by_id["1" * 16].attributes[otlp.FLAGS_ATTRIBUTE] == ["end_before_start"]
    assert by_id["2" * 16].start_ns == NOW + 3600 * 10**9  # kept as sent
    assert by_id["2" * 16].attributes[otlp.FLAGS_ATTRIBUTE] == ["future_start"]
    assert otlp.FLAGS_ATTRIBUTE not in by_id["3" * 16].attributes  # a second ahead is ordinary
    assert decoded.flags == {"end_before_start": 1, "future_start": 1}
    assert decoded.rejected_count == 0


@pytest.mark.parametrize(
    ("body", "media", "message"),
    [
        (b"\x0a\xff\xff\xff", otlp.PROTOBUF, "not a protobuf ExportTraceServiceRequest"),
        (b"{not json", otlp.JSON, "not valid JSON"),
        (b"[1, 2]", otlp.JSON, "must be an OTLP JSON object"),
        (b'{"resourceSpans": {"a": 1}}', otlp.JSON, "resourceSpans must be a list"),
        (b'{"resourceSpans": [{"scopeSpans": 3}]}', otlp.JSON, "resourceSpans[0].scopeSpans must be a list"),
    ],
)
def test_malformed_bodies_are_400_with_what_is_wrong(body: bytes, media: str, message: str) -> None:
    with pytest.raises(otlp.OtlpError, match=message.replace("[", r"\[").replace("]", r"\]")) as info:
        otlp.decode(body, media, NOW)
    assert info.value.status == 400


def test_snake_case_keys_are_not_otlp_json_and_are_ignored() -> None:
    span = json_span(TRACE, SPAN)
    span["trace_id"] = span.pop("traceId")  # the original field name is not a valid key
    decoded = otlp.decode(orjson.dumps(json_request([span])), otlp.JSON, NOW)
    assert decoded.rejected == {"invalid_trace_id": 1}


def test_an_empty_request_is_a_success() -> None:
    assert otlp.decode(b"{}", otlp.JSON, NOW).accepted == 0
    assert otlp.decode(b"", otlp.PROTOBUF, NOW).accepted == 0


def test_content_types() -> None:
    assert otlp.media_type("application/x-protobuf") == otlp.PROTOBUF
    assert otlp.media_type("application/json; charset=utf-8") == otlp.JSON
    for bad in (None, "text/plain", "application/grpc"):
        with pytest.raises(otlp.OtlpError) as info:
            otlp.media_type(bad)
        assert info.value.status == 415


def test_gzip_and_deflate_are_inflated_within_the_limit() -> None:
    data = b"x" * 10_000
    assert otlp.decompress(gzip.compress(data), "gzip", 10_000) == data
    assert otlp.decompress(zlib.compress(data), "deflate", 10_000) == data
    assert otlp.decompress(data, None, 10_000) == data
    with pytest.raises(otlp.OtlpError) as info:
        otlp.decompress(gzip.compress(b"x" * 10_001), "gzip", 10_000)  # a bomb stops at the limit
    assert info.value.status == 413 and "10000 bytes" in str(info.value)
    with pytest.raises(otlp.OtlpError) as info:
        otlp.decompress(b"not gzip", "gzip", 10_000)
    assert info.value.status == 400
    with pytest.raises(otlp.OtlpError) as info:
        otlp.decompress(gzip.compress(data)[:-20], "gzip", 10_000)
    assert info.value.status == 400 and "truncated" in str(info.value)
    with pytest.raises(otlp.OtlpError) as info:
        otlp.decompress(data, "br", 10_000)
    assert info.value.status == 415


def test_error_bodies_are_google_rpc_status_in_the_request_encoding() -> None:
    pb = status_pb2.Status.FromString(otlp.status_body(otlp.PROTOBUF, 400, "bad data"))
    assert (pb.code, pb.message) == (3, "bad data")
    assert orjson.loads(otlp.status_body(otlp.JSON, 429, "full")) == {"code": 8, "message": "full"}


def test_deeply_nested_values_are_refused_not_recursed_forever() -> None:
    value: dict = {"stringValue": "leaf"}
    for _ in range(otlp.MAX_VALUE_DEPTH + 2):
        value = {"arrayValue": {"values": [value]}}
    span = json_span(TRACE, SPAN, attributes=[{"key": "deep", "value": value}])
    assert otlp.decode(orjson.dumps(json_request([span])), otlp.JSON, NOW).rejected == {"too_deep": 1}
