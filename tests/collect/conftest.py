"""Scaffolding for the collector's tests: a one-call-per-trace assembler, OTLP builders, a TCP
proxy that takes PostgreSQL away and back, and real senders (the OpenTelemetry SDK's exporter).

The assembler here is deliberately trivial (one call per trace, built by an
adapter written to ``voiceobs.collect.model``'s protocol): these tests are
about the transport, and any object with the collector's ``Assembler``
methods must plug in.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from sqlalchemy import text
from sqlalchemy.engine import make_url

from voiceobs.collect.model import IngestedSpan
from voiceobs.results import RunResult, TurnResult
from voiceobs.store import Store


class TraceAdapter:
    """A call per trace: its turns are the ``turn`` spans, with their transcripts."""

    name = "test"

    def recognises(self, span: IngestedSpan) -> bool:
        return True

    def complete(self, spans: Sequence[IngestedSpan]) -> bool:
        return any(s.record.name == "conversation" for s in spans)

    def build(self, spans: Sequence[IngestedSpan]) -> RunResult | None:
        first = min(spans, key=lambda s: s.record.start_ns)
        turns = sorted((s for s in spans if s.record.name == "turn"), key=lambda s: s.record.start_ns)
        trace_id = first.record.trace_id
        return RunResult(
            id=trace_id,
            probe_name=str(first.resource.get("service.name", "")),
            target_url="",
            started_at=datetime.fromtimestamp(first.record.start_ns / 1e9, UTC),
            source="production",
            framework=self.name,
            service=str(first.resource.get("service.name", "")),
            trace_id=trace_id,
            turns=[
                TurnResult(i, transcript=t.record.attributes.get("transcript"))
                for i, t in enumerate(turns)
            ],
            spans=[s.record for s in spans],
        )


class TraceAssembler:
    """Groups spans by trace; a trace is due when its conversation span came or it went idle."""

    def __init__(self, idle_s: float = 60.0) -> None:
        self.adapter = TraceAdapter()
        self.idle_s = idle_s
        self.traces: dict[str, list[IngestedSpan]] = {}
        self.seen: dict[str, float] = {}
        self.emitted: list[RunResult] = []

    def add(self, spans: Sequence[IngestedSpan]) -> None:
        now = time.monotonic()
        for s in spans:
            held = self.traces.setdefault(s.record.trace_id, [])
            if all(h.record.span_id != s.record.span_id for h in held):  # idempotent on span id
                held.append(s)
            self.seen[s.record.trace_id] = now

    def _emit(self, trace_id: str) -> RunResult | None:
        spans = self.traces.pop(trace_id)
        self.seen.pop(trace_id, None)
        run = self.adapter.build(spans)
        if run is not None:
            self.emitted.append(run)
        return run

    def due(self, now: float) -> list[RunResult]:
        ready = [
            t for t, spans in self.traces.items()
            if self.adapter.complete(spans) or now - self.seen[t] >= self.idle_s
        ]  # fmt: skip
        return [r for t in ready if (r := self._emit(t)) is not None]

    def flush_all(self) -> list[RunResult]:
        return [r for t in list(self.traces) if (r := self._emit(t)) is not None]


def sdk_sender(
    url: str,
    service: str = "bot",
    *,
    compression: Compression = Compression.NoCompression,
    resource: dict[str, Any] | None = None,
    timeout: float = 30.0,
) -> tuple[TracerProvider, OTLPSpanExporter]:
    """A real OpenTelemetry SDK tracer exporting each span at once over OTLP/HTTP protobuf."""
    exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces", compression=compression, timeout=timeout)
    provider = TracerProvider(resource=Resource.create({"service.name": service, **(resource or {})}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def kv(key: str, value: Any) -> dict[str, Any]:
    """One OTLP JSON attribute."""
    if isinstance(value, bool):
        v: dict[str, Any] = {"boolValue": value}
    elif isinstance(value, int):
        v = {"intValue": str(value)}
    elif isinstance(value, float):
        v = {"doubleValue": value}
    else:
        v = {"stringValue": value}
    return {"key": key, "value": v}


def json_span(trace_id: str, span_id: str, name: str = "turn", **extra: Any) -> dict[str, Any]:
    """A hand-built OTLP JSON span (hex ids, times as decimal strings, enums as integers)."""
    start = time.time_ns()
    span: dict[str, Any] = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "kind": 2,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 250_000_000),
        "attributes": [kv("turn.was_interrupted", False)],
        "status": {"code": 1},
    }
    span.update(extra)
    return span


def json_request(spans: list[dict[str, Any]], service: str = "bot") -> dict[str, Any]:
    """An ExportTraceServiceRequest in OTLP JSON."""
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [kv("service.name", service)]},
                "scopeSpans": [{"scope": {"name": "pipecat"}, "spans": spans}],
            }
        ]
    }


def span_count(store: Store) -> int:
    with store.engine.connect() as c:
        return int(c.execute(text("SELECT count(*) FROM spans")).scalar() or 0)


def wait_until(check: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached within {timeout:g} s")


class TcpProxy:
    """A real TCP forwarder on loopback; ``cut()`` is a database outage, ``restore()`` its end."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._thread.start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        """Refuse new connections and break every open one."""
        if self._listener is not None:
            # shutdown() first: close() alone leaves a thread blocked in accept() listening.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
            if self._thread is not None:
                self._thread.join(5)
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            c.close()

    def url(self, db_url: str) -> str:
        return make_url(db_url).set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)


@pytest.fixture
def pg_proxy(pg_url: str) -> Iterator[tuple[TcpProxy, str]]:
    """A fresh PostgreSQL schema reached through a proxy the test can cut."""
    parsed = make_url(pg_url)
    proxy = TcpProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
    try:
        yield proxy, proxy.url(pg_url)
    finally:
        proxy.cut()


@pytest.fixture
def spool_dir(tmp_path: Any) -> Any:
    return tmp_path / "spool"

