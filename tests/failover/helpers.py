"""Shared pieces for failover tests: SLO results shaped like the engine's, a real HTTP receiver."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CALLS: list[dict[str, Any]] = []


def record_call(incident: dict[str, Any]) -> str:
    """A Python hook entry point used by the tests."""
    CALLS.append(incident)
    return "noted"


def failing_call(incident: dict[str, Any]) -> None:
    """A Python hook entry point that always raises."""
    raise RuntimeError(f"cannot handle {incident['slo']}")


@dataclass(frozen=True)
class FakeSlo:
    """The SLO attributes failover reads (the engine's SLO has more)."""

    name: str
    description: str = "callers get an answer"
    objective: float = 0.995
    window: str = "30d"
    selector: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FakeResult:
    """One SLO evaluation, with the attributes of voiceobs.slo's SloResult."""

    slo: FakeSlo
    alert_state: str = "ok"
    firing: tuple[str, ...] = ()
    sli: float | None = 0.999
    good: int = 999
    total: int = 1000
    budget_remaining: float | None = 0.8
    burn_rates: dict[str, float | None] = field(default_factory=dict)


def firing(name: str, severity: str = "page", **selector: Any) -> FakeResult:
    """A result whose alert of ``severity`` fires (a fast burn)."""
    return FakeResult(
        slo=FakeSlo(name, selector=selector),
        alert_state=severity,
        firing=(f"{severity}_1h_5m",),
        sli=0.9,
        good=900,
        total=1000,
        budget_remaining=-19.0,
        burn_rates={"5m": 20.0, "1h": 20.0},
    )


def ok(name: str, **selector: Any) -> FakeResult:
    """A result whose alerts are all quiet."""
    return FakeResult(slo=FakeSlo(name, selector=selector), burn_rates={"5m": 0.1, "1h": 0.2})


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A real HTTP server on loopback that records every POST it gets.

    ``codes`` are answered in order (then ``200``); ``delay`` makes it slow;
    the first ``hold`` requests get no answer until ``release()`` (or shutdown),
    like a target that hangs while the sender is killed.
    """

    def __init__(self, codes: list[int] | None = None, delay: float = 0.0, hold: int = 0) -> None:
        self.codes = list(codes or [])
        self.delay = delay
        self.hold = hold
        self.released = threading.Event()
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.requests.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    held = len(receiver.requests) <= receiver.hold
                    code = receiver.codes.pop(0) if receiver.codes else 200
                if held:
                    receiver.released.wait(120)
                if receiver.delay:
                    time.sleep(receiver.delay)
                payload = b'{"ok": true}'
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up (timeout test)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def release(self) -> None:
        """Let held requests be answered."""
        self.released.set()

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()

    def bodies(self) -> list[Any]:
        with self.lock:
            return [r.json() for r in self.requests]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.02)
        raise AssertionError(
            f"expected {count} requests within {timeout}s, got {len(self.requests)}"
        )


@contextmanager
def receiver(
    codes: list[int] | None = None, delay: float = 0.0, hold: int = 0
) -> Iterator[Receiver]:
    """A running Receiver, shut down afterwards."""
    with Receiver(codes, delay, hold) as r:
        yield r


def free_port() -> int:
    """A loopback port nobody listens on (right now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_hooks(path: Path, body: str) -> Path:
    """A hooks file with the version line prepended."""
    path.write_text("version: voiceobs/v1\n" + body, encoding="utf-8")
    return path


def race_worker(url: str, hooks_path: str, barrier: Any, out: Any, rounds: int) -> None:
    """One evaluator of a race: open the store, then run passes in lockstep with the others."""
    from voiceobs.failover import load_hooks, process
    from voiceobs.store import Store

    store = Store.open(url)
    hooks = load_hooks(hooks_path)
    delivered = []
    for i in range(rounds):
        results = [firing("agent-availability"), firing("agent-latency", "ticket")]
        if i % 2:
            results = [ok("agent-availability"), ok("agent-latency")]
        barrier.wait(timeout=60)
        report = process(store, results, hooks)
        delivered.extend((d.hook, d.event, d.incident_id) for d in report.deliveries)
    store.close()
    out.put(delivered)


def retry_worker(url: str, hooks_path: str, barrier: Any, out: Any) -> None:
    """One of several evaluators that find the same pending delivery due at the same instant."""
    from voiceobs.failover import load_hooks, process
    from voiceobs.store import Store

    store = Store.open(url)
    hooks = load_hooks(hooks_path)
    barrier.wait(timeout=60)
    report = process(store, [firing("agent-availability")], hooks)
    store.close()
    out.put([(d.hook, d.event, d.outcome) for d in report.deliveries])
