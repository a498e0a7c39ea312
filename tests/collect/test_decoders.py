"""Decoding and redaction in worker processes: the same answers, the same redaction, no loss.

Every check runs a real collector server whose requests are decoded by a
spawned decoder process, and compares it with one that decodes on its own
thread: what a sender is told and what the store keeps must not depend on
where decoding ran.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import bindparam, text

from tests.collect.conftest import TraceAssembler, json_request, json_span, kv, wait_until
from voiceobs.collect import runner
from voiceobs.collect.decoders import DecoderPool, auto_processes
from voiceobs.collect.ingest import Collector, CollectorSettings
from voiceobs.collect.server import CollectConfig
from voiceobs.redact import Redactor
from voiceobs.store import Store
from voiceobs.store.spool import Spool

PB = {"Content-Type": "application/x-protobuf"}
JS = {"Content-Type": "application/json"}
_BOMB = gzip.compress(b'{"resourceSpans": []' + b" " * 100_000 + b"}")


@contextlib.contextmanager
def _serve(
    store: Store, tmp_path: Path, processes: int, redactor: Redactor | None = None, **config: Any
) -> Iterator[runner.CollectHandle]:
    collector = Collector(
        store,
        assembler=TraceAssembler(),
        spool=Spool(tmp_path / f"spool-{processes}-{uuid.uuid4().hex[:6]}"),
        settings=CollectorSettings(flush_s=0.02, retry_s=0.2),
    )
    cfg = CollectConfig(decode_processes=processes, **config)
    with runner.running(collector, cfg, redactor=redactor) as handle:
        yield handle


def _pool(handle: runner.CollectHandle) -> DecoderPool | None:
    pool = handle._server.config.app.state.decoders
    assert pool is None or isinstance(pool, DecoderPool)
    return pool


def _post(handle: runner.CollectHandle, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{handle.url}/v1/traces", content=body, headers=headers, timeout=30)


def _stored(store: Store, trace_ids: list[str]) -> list[tuple[Any, ...]]:
    with store.engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT trace_id, span_id, name, service_name, start_ns, end_ns, status_message, "
                "attributes FROM spans WHERE trace_id IN :t ORDER BY trace_id, span_id"
            ).bindparams(bindparam("t", expanding=True)),
            {"t": trace_ids},
        )
        return [tuple(r) for r in rows]


def _requests(trace: str) -> list[tuple[bytes, dict[str, str]]]:
    """Good, partly bad and wholly bad requests, in both encodings and compressed."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    pb = ExportTraceServiceRequest()
    scope = pb.resource_spans.add().scope_spans.add()
    scope.spans.add(trace_id=bytes.fromhex(trace), span_id=b"\x01" * 8, name="turn", start_time_unix_nano=5, end_time_unix_nano=9)  # fmt: skip
    scope.spans.add(trace_id=bytes.fromhex(trace), span_id=b"", name="no id", start_time_unix_nano=5)
    said = kv("transcript", "call me on four one five, five five five, one two one two")
    at = {"startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000250000000"}
    js = json_request(
        [json_span(trace, "2" * 16, attributes=[said], **at), json_span(trace, "0" * 16, **at)]
    )
    return [
        (pb.SerializeToString(), PB),
        (gzip.compress(orjson.dumps(js)), {**JS, "Content-Encoding": "gzip"}),
        (b"\x0a\x05\x0a\x03\xff", PB),  # not protobuf
        (b'{"resourceSpans": [', JS),  # not JSON
        (b"\x1f\x8b not really", {**JS, "Content-Encoding": "gzip"}),
        (_BOMB, {**JS, "Content-Encoding": "gzip"}),  # over the limit once decompressed
    ]


def test_a_decoder_process_answers_and_stores_exactly_what_the_server_s_own_thread_does(
    store: Store, tmp_path: Path
) -> None:
    answers: dict[int, list[tuple[int, bytes]]] = {}
    traces: dict[int, str] = {}
    for processes in (0, 1):
        trace = traces[processes] = uuid.uuid4().hex
        with _serve(store, tmp_path, processes, max_body_bytes=65_536) as handle:
            assert (_pool(handle) is not None) == (processes == 1)
            answers[processes] = [
                (r.status_code, r.content.replace(trace.encode(), b"T"))
                for r in (_post(handle, body, h) for body, h in _requests(trace))
            ]
            wait_until(lambda t=trace: len(_stored(store, [t])) == 2, what="both good spans stored")  # type: ignore[misc]
    assert [status for status, _ in answers[1]] == [200, 200, 400, 400, 400, 413]
    assert answers[1] == answers[0]
    # The stored spans are the same but for the trace id each run used.
    same = [(r[1:]) for r in _stored(store, [traces[0]])]
    assert same == [(r[1:]) for r in _stored(store, [traces[1]])]
    assert "[PHONE" in str(same) and "five five five" not in str(same)


def test_decoder_processes_pseudonymise_with_the_server_s_key(store: Store, tmp_path: Path) -> None:
    redactor = Redactor(key=b"fleet-key")
    trace = uuid.uuid4().hex
    span = json_span(trace, "3" * 16, attributes=[kv("sip.phoneNumber", "+14155551212")])
    with _serve(store, tmp_path, 1, redactor=redactor) as handle:
        assert _post(handle, orjson.dumps(json_request([span])), JS).status_code == 200
        wait_until(lambda: len(_stored(store, [trace])) == 1)
    (row,) = _stored(store, [trace])
    attributes = row[-1] if isinstance(row[-1], dict) else orjson.loads(row[-1])
    stored = attributes["sip.phoneNumber"]
    assert stored == redactor.redact_attributes({"sip.phoneNumber": "+14155551212"})["sip.phoneNumber"]
    assert stored.startswith("[PHONE:") and stored != Redactor(key=b"other").redact_attributes(
        {"sip.phoneNumber": "+14155551212"}
    )["sip.phoneNumber"]


def test_a_killed_decoder_is_503_with_retry_after_then_replaced_and_nothing_is_lost(
    store: Store, tmp_path: Path
) -> None:
    traces = [uuid.uuid4().hex for _ in range(3)]

    def body(trace: str) -> bytes:
        return orjson.dumps(json_request([json_span(trace, "4" * 16)]))

    with _serve(store, tmp_path, 1) as handle:
        pool = _pool(handle)
        assert pool is not None
        assert _post(handle, body(traces[0]), JS).status_code == 200
        (pid,) = pool.warm()
        os.kill(pid, signal.SIGKILL)
        refused = _post(handle, body(traces[1]), JS)
        assert refused.status_code == 503, refused.text
        assert int(refused.headers["Retry-After"]) >= 1
        assert "decoder process died" in refused.json()["message"]
        # The sender retries, as OTLP exporters do on 503: a fresh worker takes it.
        assert _post(handle, body(traces[1]), JS).status_code == 200
        assert pool.warm() != [pid]
        assert _post(handle, body(traces[2]), JS).status_code == 200
        wait_until(lambda: len(_stored(store, traces)) == 3, what="every accepted span stored")


@pytest.mark.parametrize(("cpus", "expected"), [(1, 0), (2, 1), (3, 2), (16, 4)])
def test_auto_keeps_one_core_for_the_writer(cpus: int, expected: int) -> None:
    assert auto_processes(cpus) == expected
