"""OTLP/HTTP trace bodies in, OTLP responses out: exactly the encoding the specification gives.

``POST /v1/traces`` carries an ``ExportTraceServiceRequest`` as binary
protobuf (``application/x-protobuf``) or as OTLP JSON (``application/json``:
the proto3 JSON mapping with hex trace and span ids, lowerCamelCase keys
only, enums as integers, 64-bit integers as strings or numbers), optionally
gzip- or deflate-compressed. The response uses the request's encoding: an
``ExportTraceServiceResponse`` (with ``partial_success`` when some spans
were refused) on 200, a ``google.rpc.Status`` on every 4xx and 5xx
(opentelemetry-proto ``docs/specification.md``, "OTLP/HTTP Response").

Decoding never redacts (that is ``voiceobs.collect.door``), never logs span
content, and turns spans into :class:`~voiceobs.results.SpanRecord` values the
store can keep: lower-case hex ids, nanosecond times, attribute values
flattened from ``AnyValue`` to JSON-safe Python (bytes as hex, non-finite
doubles as strings, arrays as lists, key-value lists as dicts).

A span is refused (counted in ``rejected_spans``, the rest of the batch kept)
when its trace or span id is missing, not the right length, or all zeros;
when its parent id is malformed; when it has no start time; or when a field
has the wrong type. Clock skew is kept, not refused, because a bot's clock
being off does not make its measures wrong: a span that ends before it
starts is clamped (end = start) and flagged ``end_before_start``; a span
that starts more than :data:`MAX_FUTURE_SKEW_NS` after it was received is
kept as sent and flagged ``future_start``. Flags are stored on the span as
the attribute ``voiceobs.ingest.flags``.
"""

from __future__ import annotations

import base64
import binascii
import math
import zlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from google.protobuf.message import DecodeError
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from voiceobs.errors import VoiceObsError
from voiceobs.results import SpanRecord

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

#: A span starting this long after it was received is flagged ``future_start`` (10 minutes).
MAX_FUTURE_SKEW_NS = 600 * 1_000_000_000

#: Attribute that carries the ingest flags of a span (clock skew).
FLAGS_ATTRIBUTE = "voiceobs.ingest.flags"

#: Attribute that ties a span to a probe run (the same key ``voiceobs.tracing`` writes).
RUN_ID_ATTRIBUTE = "voiceobs.run_id"

#: How deep arrays and key-value lists may nest inside one attribute value.
MAX_VALUE_DEPTH = 32

_KINDS = {0: "INTERNAL", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
_STATUS = {0: "UNSET", 1: "OK", 2: "ERROR"}

# google.rpc.Code values carried in Status.code (informational only, per the specification).
_GRPC_CODE = {400: 3, 401: 16, 413: 8, 415: 3, 429: 8, 503: 14}


class OtlpError(VoiceObsError):
    """A request the receiver refuses as a whole; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _SpanRejected(Exception):
    """One span is refused; the reason is a short code, the message says what to fix."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class ScopeSpans:
    """The spans one instrumentation scope sent, in storable form (not yet redacted)."""

    name: str
    spans: list[SpanRecord] = field(default_factory=list)


@dataclass
class ResourceSpans:
    """One sender's resource attributes and its spans by scope."""

    resource: dict[str, Any]
    scopes: list[ScopeSpans] = field(default_factory=list)


@dataclass
class Decoded:
    """What one request held: the spans kept, and how many were refused, by reason."""

    resources: list[ResourceSpans] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)
    messages: dict[str, str] = field(default_factory=dict)
    flags: Counter[str] = field(default_factory=Counter)
    #: How many spans were kept, when ``resources`` was emptied after redaction (decoder workers).
    kept: int | None = None

    @property
    def accepted(self) -> int:
        """How many spans were kept."""
        if self.kept is not None:
            return self.kept
        return sum(len(s.spans) for r in self.resources for s in r.scopes)

    @property
    def rejected_count(self) -> int:
        """How many spans were refused."""
        return sum(self.rejected.values())

    def reject(self, exc: _SpanRejected) -> None:
        self.rejected[exc.reason] += 1
        self.messages.setdefault(exc.reason, str(exc))

    def error_message(self) -> str:
        """The partial-success message: how many spans went, and why (the first of each reason)."""
        parts = [f"{n} span(s): {self.messages[reason]}" for reason, n in self.rejected.items()]
        return f"rejected {self.rejected_count} span(s): " + "; ".join(parts)


# -- the HTTP envelope ---------------------------------------------------------------------


def media_type(content_type: str | None) -> str:
    """The OTLP encoding a ``Content-Type`` names; 415 for anything else."""
    value = (content_type or "").split(";", 1)[0].strip().lower()
    if value in (PROTOBUF, JSON):
        return value
    shown = value or "none"
    raise OtlpError(
        415,
        f"unsupported Content-Type {shown!r}; send {PROTOBUF} or {JSON} (OTLP/HTTP)",
    )


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """``body`` decoded per ``Content-Encoding`` (gzip, deflate or none), never past ``limit`` bytes."""
    value = (encoding or "").strip().lower()
    if value in ("", "identity"):
        return body
    if value == "gzip":
        wbits = 16 + zlib.MAX_WBITS
    elif value == "deflate":
        wbits = zlib.MAX_WBITS
    else:
        raise OtlpError(415, f"unsupported Content-Encoding {value!r}; use gzip, deflate or none")
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise OtlpError(400, f"the body is not valid {value} data ({exc})") from None
    if len(out) > limit:
        raise OtlpError(
            413, f"the decompressed body is over the limit of {limit} bytes; send smaller batches"
        )
    if not inflater.eof:
        raise OtlpError(400, f"the {value} body is truncated")
    return out


def decode(payload: bytes, media: str, received_ns: int) -> Decoded:
    """Spans of an ``ExportTraceServiceRequest`` in either encoding; 400 when it cannot be read."""
    if media == PROTOBUF:
        return _decode_protobuf(payload, received_ns)
    return _decode_json(payload, received_ns)


def success_body(media: str, decoded: Decoded | None = None) -> bytes:
    """The 200 response: empty on full success, ``partial_success`` when spans were refused."""
    rejected = decoded.rejected_count if decoded is not None else 0
    if media == PROTOBUF:
        response = ExportTraceServiceResponse()
        if decoded is not None and rejected:
            response.partial_success.rejected_spans = rejected
            response.partial_success.error_message = decoded.error_message()
        return response.SerializeToString()
    if decoded is None or not rejected:
        return b"{}"
    partial = {"rejectedSpans": str(rejected), "errorMessage": decoded.error_message()}
    return orjson.dumps({"partialSuccess": partial})


def status_body(media: str, status: int, message: str) -> bytes:
    """A ``google.rpc.Status`` for a 4xx or 5xx answer, in the request's encoding."""
    code = _GRPC_CODE.get(status, 2)
    if media == PROTOBUF:
        return status_pb2.Status(code=code, message=message).SerializeToString()
    return orjson.dumps({"code": code, "message": message})


# -- protobuf ------------------------------------------------------------------------------


def _decode_protobuf(payload: bytes, received_ns: int) -> Decoded:
    try:
        request = ExportTraceServiceRequest.FromString(payload)
    except (DecodeError, RecursionError, ValueError) as exc:
        raise OtlpError(
            400, f"the body is not a protobuf ExportTraceServiceRequest ({exc or 'malformed'})"
        ) from None
    out = Decoded()
    for rs in request.resource_spans:
        resource = _pb_attributes(rs.resource.attributes, 0) if rs.HasField("resource") else {}
        service = _service(resource)
        entry = ResourceSpans(resource)
        for ss in rs.scope_spans:
            scope = ScopeSpans(ss.scope.name)
            for span in ss.spans:
                try:
                    scope.spans.append(_pb_span(span, service, received_ns, out.flags))
                except _SpanRejected as exc:
                    out.reject(exc)
            entry.scopes.append(scope)
        out.resources.append(entry)
    return out


def _pb_span(span: Any, service: str, received_ns: int, flags: Counter[str]) -> SpanRecord:
    trace_id = _id_from_bytes(span.trace_id, 16, "trace_id")
    span_id = _id_from_bytes(span.span_id, 8, "span_id")
    parent = span.parent_span_id
    parent_id = _id_from_bytes(parent, 8, "parent_span_id") if parent else None
    attributes = _pb_attributes(span.attributes, 0)
    events = [
        {
            "name": e.name,
            "timestamp_ns": int(e.time_unix_nano),
            "attributes": _pb_attributes(e.attributes, 0),
        }
        for e in span.events
    ]
    return _record(
        trace_id,
        span_id,
        parent_id,
        span.name,
        int(span.kind),
        int(span.start_time_unix_nano),
        int(span.end_time_unix_nano),
        int(span.status.code),
        span.status.message,
        attributes,
        events,
        service,
        received_ns,
        flags,
    )


def _pb_attributes(kvs: Any, depth: int) -> dict[str, Any]:
    # The scalar cases inline: this loop runs for every attribute of every span.
    out: dict[str, Any] = {}
    for kv in kvs:
        value = kv.value
        kind = value.WhichOneof("value")
        if kind == "string_value":
            out[kv.key] = value.string_value
        elif kind == "int_value":
            out[kv.key] = value.int_value
        elif kind == "bool_value":
            out[kv.key] = value.bool_value
        else:
            out[kv.key] = _pb_value(value, depth)
    return out


def _pb_value(value: AnyValue, depth: int) -> Any:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return _double(value.double_value)
    if kind == "bool_value":
        return value.bool_value
    if depth >= MAX_VALUE_DEPTH:
        raise _SpanRejected("too_deep", f"an attribute nests deeper than {MAX_VALUE_DEPTH} levels")
    if kind == "array_value":
        return [_pb_value(v, depth + 1) for v in value.array_value.values]
    if kind == "kvlist_value":
        return _pb_attributes(value.kvlist_value.values, depth + 1)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return None


def _id_from_bytes(raw: bytes, size: int, name: str) -> str:
    if len(raw) != size:
        what = "missing" if not raw else f"{len(raw)} bytes, not {size}"
        raise _SpanRejected(f"invalid_{name}", f"{name} is {what}")
    if not any(raw):
        raise _SpanRejected(f"invalid_{name}", f"{name} is all zeros (invalid)")
    return raw.hex()


# -- JSON ----------------------------------------------------------------------------------


def _decode_json(payload: bytes, received_ns: int) -> Decoded:
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise OtlpError(400, f"the body is not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise OtlpError(400, "the body must be an OTLP JSON object with resourceSpans")
    out = Decoded()
    for i, rs in enumerate(_list(doc, "resourceSpans", "")):
        where = f"resourceSpans[{i}]"
        _need_object(rs, where)
        resource_doc = rs.get("resource") or {}
        _need_object(resource_doc, f"{where}.resource")
        try:
            resource = _json_attributes(resource_doc.get("attributes"), 0)
        except _SpanRejected as exc:
            raise OtlpError(400, f"{where}.resource: {exc}") from None
        service = _service(resource)
        entry = ResourceSpans(resource)
        for j, ss in enumerate(_list(rs, "scopeSpans", where)):
            swhere = f"{where}.scopeSpans[{j}]"
            _need_object(ss, swhere)
            scope_doc = ss.get("scope") or {}
            _need_object(scope_doc, f"{swhere}.scope")
            name = scope_doc.get("name") or ""
            scope = ScopeSpans(name if isinstance(name, str) else "")
            for span in _list(ss, "spans", swhere):
                try:
                    scope.spans.append(_json_span(span, service, received_ns, out.flags))
                except _SpanRejected as exc:
                    out.reject(exc)
            entry.scopes.append(scope)
        out.resources.append(entry)
    return out


def _need_object(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise OtlpError(400, f"malformed OTLP JSON: {where} must be an object")


def _list(doc: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        path = f"{where}.{key}" if where else key
        raise OtlpError(400, f"malformed OTLP JSON: {path} must be a list")
    return value


def _json_span(span: Any, service: str, received_ns: int, flags: Counter[str]) -> SpanRecord:
    if not isinstance(span, dict):
        raise _SpanRejected("malformed_span", "a span is not a JSON object")
    trace_id = _id_from_hex(span.get("traceId"), 16, "traceId")
    span_id = _id_from_hex(span.get("spanId"), 8, "spanId")
    parent = span.get("parentSpanId")
    parent_id = _id_from_hex(parent, 8, "parentSpanId") if parent else None
    name = span.get("name", "")
    if not isinstance(name, str):
        raise _SpanRejected("malformed_span", "name must be a string")
    status = span.get("status") or {}
    if not isinstance(status, dict):
        raise _SpanRejected("malformed_span", "status must be an object")
    message = status.get("message") or ""
    if not isinstance(message, str):
        raise _SpanRejected("malformed_span", "status.message must be a string")
    events_doc = span.get("events") or []
    if not isinstance(events_doc, list):
        raise _SpanRejected("malformed_span", "events must be a list")
    events = []
    for e in events_doc:
        if not isinstance(e, dict):
            raise _SpanRejected("malformed_span", "an event is not a JSON object")
        ename = e.get("name", "")
        events.append(
            {
                "name": ename if isinstance(ename, str) else "",
                "timestamp_ns": _uint(e.get("timeUnixNano"), "events.timeUnixNano"),
                "attributes": _json_attributes(e.get("attributes"), 0),
            }
        )
    return _record(
        trace_id,
        span_id,
        parent_id,
        name,
        _enum(span.get("kind"), "kind"),
        _uint(span.get("startTimeUnixNano"), "startTimeUnixNano"),
        _uint(span.get("endTimeUnixNano"), "endTimeUnixNano"),
        _enum(status.get("code"), "status.code"),
        message,
        _json_attributes(span.get("attributes"), 0),
        events,
        service,
        received_ns,
        flags,
    )


def _id_from_hex(value: Any, size: int, name: str) -> str:
    if not value:
        raise _SpanRejected(f"invalid_{_snake(name)}", f"{name} is missing")
    if not isinstance(value, str) or len(value) != 2 * size:
        raise _SpanRejected(
            f"invalid_{_snake(name)}",
            f"{name} must be {2 * size} hex digits (OTLP JSON ids are hex)",
        )
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise _SpanRejected(
            f"invalid_{_snake(name)}",
            f"{name} must be {2 * size} hex digits (OTLP JSON ids are hex)",
        ) from None
    if not any(raw):
        raise _SpanRejected(f"invalid_{_snake(name)}", f"{name} is all zeros (invalid)")
    return value.lower()


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


def _uint(value: Any, name: str) -> int:
    """A fixed64 field: JSON gives it as a decimal string or a number; absent is 0."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise _SpanRejected("malformed_span", f"{name} must be an integer")
    if isinstance(value, int):
        number = value
    elif (isinstance(value, str) and value.isdigit()) or (
        isinstance(value, float) and value.is_integer()
    ):
        number = int(value)
    else:
        raise _SpanRejected(
            "malformed_span", f"{name} must be an unsigned integer (string or number)"
        )
    if not 0 <= number < 2**64:
        raise _SpanRejected("malformed_span", f"{name} is out of range")
    return number


def _enum(value: Any, name: str) -> int:
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _SpanRejected(
        "malformed_span", f"{name} must be an integer (OTLP JSON encodes enums as integers)"
    )


def _json_attributes(kvs: Any, depth: int) -> dict[str, Any]:
    if kvs is None:
        return {}
    if not isinstance(kvs, list):
        raise _SpanRejected("malformed_span", "attributes must be a list of {key, value}")
    out: dict[str, Any] = {}
    for kv in kvs:
        if not isinstance(kv, dict) or not isinstance(kv.get("key"), str):
            raise _SpanRejected("malformed_span", "an attribute is not a {key, value} object")
        out[kv["key"]] = _json_value(kv.get("value"), depth)
    return out


def _json_value(value: Any, depth: int) -> Any:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _SpanRejected("malformed_span", "an attribute value is not an AnyValue object")
    for key, convert in _JSON_VALUES.items():
        if key in value:
            return convert(value[key], depth)
    return None


def _json_string(v: Any, _depth: int) -> Any:
    if not isinstance(v, str):
        raise _SpanRejected("malformed_span", "stringValue must be a string")
    return v


def _json_bool(v: Any, _depth: int) -> Any:
    if not isinstance(v, bool):
        raise _SpanRejected("malformed_span", "boolValue must be true or false")
    return v


def _json_int(v: Any, _depth: int) -> Any:
    if isinstance(v, int) and not isinstance(v, bool):
        number = v
    elif isinstance(v, str) and v.lstrip("-").isdigit():
        number = int(v)
    else:
        raise _SpanRejected("malformed_span", "intValue must be an integer (string or number)")
    if not -(2**63) <= number < 2**63:
        raise _SpanRejected("malformed_span", "intValue is out of the int64 range")
    return number


def _json_double(v: Any, _depth: int) -> Any:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return _double(float(v))
    if v in ("NaN", "Infinity", "-Infinity"):
        return v  # proto3 JSON spells the non-finite doubles; JSON-safe as they are
    raise _SpanRejected("malformed_span", "doubleValue must be a number")


def _json_array(v: Any, depth: int) -> Any:
    if depth >= MAX_VALUE_DEPTH:
        raise _SpanRejected("too_deep", f"an attribute nests deeper than {MAX_VALUE_DEPTH} levels")
    values = (v or {}).get("values") if isinstance(v, dict) else None
    if values is None:
        return []
    if not isinstance(values, list):
        raise _SpanRejected("malformed_span", "arrayValue.values must be a list")
    return [_json_value(x, depth + 1) for x in values]


def _json_kvlist(v: Any, depth: int) -> Any:
    if depth >= MAX_VALUE_DEPTH:
        raise _SpanRejected("too_deep", f"an attribute nests deeper than {MAX_VALUE_DEPTH} levels")
    if not isinstance(v, dict):
        raise _SpanRejected("malformed_span", "kvlistValue must be an object")
    return _json_attributes(v.get("values"), depth + 1)


def _json_bytes(v: Any, _depth: int) -> Any:
    if not isinstance(v, str):
        raise _SpanRejected("malformed_span", "bytesValue must be a base64 string")
    try:
        return base64.b64decode(v, validate=True).hex()
    except (binascii.Error, ValueError):
        try:
            return base64.urlsafe_b64decode(v + "=" * (-len(v) % 4)).hex()
        except (binascii.Error, ValueError):
            raise _SpanRejected("malformed_span", "bytesValue is not base64") from None


_JSON_VALUES: dict[str, Callable[[Any, int], Any]] = {
    "stringValue": _json_string,
    "intValue": _json_int,
    "doubleValue": _json_double,
    "boolValue": _json_bool,
    "arrayValue": _json_array,
    "kvlistValue": _json_kvlist,
    "bytesValue": _json_bytes,
}


# -- shared --------------------------------------------------------------------------------


def _double(value: float) -> Any:
    # JSON (and PostgreSQL's json type) has no NaN or infinity: keep them as text.
    return value if math.isfinite(value) else str(value)


def _service(resource: Mapping[str, Any]) -> str:
    name = resource.get("service.name")
    return name if isinstance(name, str) else ""


def _record(
    trace_id: str,
    span_id: str,
    parent_id: str | None,
    name: str,
    kind: int,
    start_ns: int,
    end_ns: int,
    status_code: int,
    status_message: str,
    attributes: dict[str, Any],
    events: list[dict[str, Any]],
    service: str,
    received_ns: int,
    flags: Counter[str],
) -> SpanRecord:
    if start_ns <= 0:
        raise _SpanRejected("missing_start_time", "startTimeUnixNano is missing")
    if start_ns >= 2**63:
        raise _SpanRejected("malformed_span", "startTimeUnixNano is out of range")
    found: list[str] = []
    if end_ns < start_ns:
        end_ns = start_ns
        found.append("end_before_start")
    elif end_ns >= 2**63:
        raise _SpanRejected("malformed_span", "endTimeUnixNano is out of range")
    if start_ns > received_ns + MAX_FUTURE_SKEW_NS:
        found.append("future_start")
    if found:
        attributes[FLAGS_ATTRIBUTE] = found
        flags.update(found)
    run_id = attributes.get(RUN_ID_ATTRIBUTE)
    return SpanRecord(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent_id,
        name=name,
        start_ns=start_ns,
        end_ns=end_ns,
        run_id=run_id if isinstance(run_id, str) and 0 < len(run_id) <= 32 else None,
        kind=_KINDS.get(kind, "UNKNOWN"),
        service_name=service,
        status_code=_STATUS.get(status_code, "UNSET"),
        status_message=status_message or None,
        attributes=attributes,
        events=events,
    )


__all__ = [
    "FLAGS_ATTRIBUTE",
    "JSON",
    "MAX_FUTURE_SKEW_NS",
    "PROTOBUF",
    "Decoded",
    "OtlpError",
    "ResourceSpans",
    "ScopeSpans",
    "decode",
    "decompress",
    "media_type",
    "status_body",
    "success_body",
]
