"""Test scaffolding shared by every test folder: free ports, reference servers, spec builders,
and real ``voiceobs`` commands run in their own session and watched through ``/proc``.

Reference servers run in child processes (not threads of the test process)
so they do not share the GIL with the probe: the probe's pacing and arrival
stamps are then what they would be against a remote bot.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

from voiceobs.probe.spec import ProbeSpec, parse_spec
from voiceobs.redact import Redactor
from voiceobs.tracing import RedactingSpanProcessor


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_SERVER = textwrap.dedent(
    """
    import sys
    from voiceobs.server.app import ServerConfig
    from voiceobs.server.runner import start_server
    handle = start_server(ServerConfig(pipeline=sys.argv[1], port=0, max_calls=1000, device="cpu"))
    print(handle.port, flush=True)
    sys.stdin.read()
    handle.stop()
    """
)


def _realtime_if_allowed() -> None:
    """Run the target at real-time priority where the host allows it (root in CI).

    The probe is what these tests measure. A target starved of CPU by the rest
    of the test run answers in bursts, and a burst of replies keeps the probe's
    loop busy past a frame's due time: the tests would measure the host's
    scheduler, not the probe. A remote bot's bursts are the network's, and the
    probe reports them as arrival gaps.
    """
    with contextlib.suppress(OSError):
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(5))


class ServerProcess:
    """A reference server in a child process, on a free loopback port."""

    def __init__(self, pipeline: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER, pipeline],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=_realtime_if_allowed,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.isdigit():
            self.stop()
            raise RuntimeError(f"the {pipeline} server did not start (got {line!r})")
        self.port = int(line)

    def url(self, protocol: str = "twilio", query: str = "") -> str:
        """WebSocket URL of a protocol endpoint."""
        return f"ws://127.0.0.1:{self.port}/{protocol}" + (f"?{query}" if query else "")

    def stop(self) -> None:
        """Close stdin (the child exits) with a deadline, then kill."""
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


SHORT_PROMPT = "Hello there."


def make_spec(target: str, **overrides: object) -> ProbeSpec:
    """A one-turn loopback spec for ``target``, with fields overridden."""
    data: dict[str, object] = {
        "version": "voiceobs/v1",
        "name": "test-probe",
        "target": target,
        "protocol": "twilio",
        "pipeline": "echo",
        "timeouts": {"connect_s": 3, "first_audio_s": 2, "call_s": 20},
        "turns": [{"prompt": SHORT_PROMPT, "reference": "prompt", "end_silence_ms": 300}],
    }
    data.update(overrides)
    return parse_spec(yaml.safe_dump(data), "test.yaml")


# -- long-running commands as real processes -------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


def voiceobs(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``voiceobs ARGS`` as a user would: a real process, its output captured."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "voiceobs.cli.main", *args],
        capture_output=True, text=True, timeout=120, env=full_env, check=False,
    )  # fmt: skip


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    """The command failed with one line on stderr, no traceback, naming every needle."""
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def exit_code(argv: list[str]) -> int:
    """Run ``voiceobs ARGV`` in this process and return its exit code (0 when it returns)."""
    from voiceobs.cli.main import main

    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # state, ppid, pgrp, session, ...


def alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def in_session(sid: int) -> list[int]:
    """Every live process of session ``sid`` except its leader: what a command started."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != sid:
            fields = _stat(int(entry))
            if fields is not None and fields[0] != "Z" and int(fields[3]) == sid:
                pids.append(int(entry))
    return sorted(pids)


def cmdline(pid: int) -> str:
    """What ``ps`` shows as the command line of ``pid`` (empty once it has gone)."""
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def every_cmdline() -> dict[int, str]:
    """The command line of every process on the host, as any user can read them."""
    return {int(e): cmdline(int(e)) for e in os.listdir("/proc") if e.isdigit()}


def environ(pid: int) -> dict[str, str]:
    """The environment ``pid`` was started with (readable by its owner only)."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    return dict(
        item.decode(errors="replace").partition("=")[::2] for item in raw.split(b"\0") if item
    )


def wait_gone(pids: list[int], deadline_s: float) -> list[int]:
    """Poll until every pid has exited; returns those still alive at the deadline."""
    end = time.monotonic() + deadline_s
    left = [p for p in pids if alive(p)]
    while left and time.monotonic() < end:
        time.sleep(0.1)
        left = [p for p in left if alive(p)]
    return left


def wait_http(url: str, proc: subprocess.Popen[bytes], deadline_s: float = 120.0) -> None:
    """Poll ``url`` until it answers 200; fail at once if ``proc`` exits first."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        assert proc.poll() is None, f"exited with {proc.returncode} before {url} answered"
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {deadline_s:g} s")


@contextlib.contextmanager
def command(*args: str, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """``voiceobs ARGS`` in its own session; whatever is left of it is killed afterwards."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "voiceobs.cli.main", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        for pid in [proc.pid, *in_session(proc.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.communicate(timeout=10)


# -- a real HTTP receiver on loopback (webhooks, Alertmanager receivers) ---------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    #: When the request was received (``time.monotonic()``), before any ``delay``.
    at: float = field(default_factory=time.monotonic)

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


# -- a WebSocket tap on loopback: ground truth of what a caller received, and when ------------


class WebSocketTap:
    """A TCP proxy between a WebSocket client and server that stamps the server's frames.

    It forwards bytes both ways untouched and parses the server-to-client
    direction (server frames are unmasked) into complete text and binary
    messages, each with the wall-clock time its last byte passed the tap.
    That is an independent record of what a caller got and when: it runs in
    this process, not in the probe's or the bot's, so neither one's clock or
    scheduling is taken on trust.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        #: (wall-clock seconds, text or bytes) of every complete server message, in order.
        self.messages: list[tuple[float, str | bytes]] = []
        self._loop: Any = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def __enter__(self) -> WebSocketTap:
        import asyncio

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            server = loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            try:
                loop.run_forever()
            finally:
                server.close()
                loop.run_until_complete(server.wait_closed())
                loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    async def _client(self, reader: Any, writer: Any) -> None:
        import asyncio

        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)

        async def pipe(src: Any, dst: Any, parse: bool) -> None:
            buffer = bytearray()
            handshake_done = not parse
            try:
                while True:
                    data = await src.read(65536)
                    if not data:
                        break
                    dst.write(data)
                    if parse:
                        at = time.time()
                        buffer.extend(data)
                        if not handshake_done:
                            end = buffer.find(b"\r\n\r\n")
                            if end < 0:
                                continue
                            del buffer[: end + 4]
                            handshake_done = True
                        self._frames(buffer, at)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    dst.close()

        await asyncio.gather(pipe(reader, up_writer, False), pipe(up_reader, writer, True))

    def _frames(self, buf: bytearray, at: float) -> None:
        """Take every complete frame off ``buf`` (unmasked, as servers send them)."""
        while len(buf) >= 2:
            opcode = buf[0] & 0x0F
            n = buf[1] & 0x7F
            head = 2
            if n == 126:
                if len(buf) < 4:
                    return
                n, head = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n, head = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < head + n:
                return
            payload = bytes(buf[head : head + n])
            del buf[: head + n]
            if opcode == 1:
                self.messages.append((at, payload.decode("utf-8", "replace")))
            elif opcode == 2:
                self.messages.append((at, payload))


def twilio_media_level(message: str | bytes) -> float | None:
    """dBFS of a Twilio ``media`` message's audio, as the probe computes a received frame's; None otherwise."""
    import base64

    import numpy as np

    from voiceobs.audio.g711 import mulaw_decode
    from voiceobs.probe.prompts import levels_dbfs

    if not isinstance(message, str) or '"media"' not in message:
        return None
    try:
        data = json.loads(message)
    except ValueError:
        return None
    if data.get("event") != "media":
        return None
    pcm = mulaw_decode(np.frombuffer(base64.b64decode(data["media"]["payload"]), dtype=np.uint8))
    return float(levels_dbfs(pcm.reshape(1, -1), 32768.0)[0]) if pcm.size else -120.0


# -- tracing ----------------------------------------------------------------------------------

#: Personal data the tracing tests put in spans, written and spoken.
PHONE = "415-555-1212"
EMAIL_SPOKEN = "john dot smith at gmail dot com"


def redacting_provider(
    *processors: SpanProcessor, redactor: Redactor | None = None
) -> TracerProvider:
    """A tracer provider whose spans pass voiceobs's redacting processor before ``processors``."""
    provider = TracerProvider()
    provider.add_span_processor(
        RedactingSpanProcessor(*processors, redactor=redactor or Redactor(use_env=False))
    )
    return provider


# -- which SQL a call ran (to tell a rollup read from a raw one) ------------------------------


@contextmanager
def statements(store: Any) -> Iterator[list[str]]:
    """The SQL statements ``store`` runs inside the block, in order."""
    from sqlalchemy import event

    seen: list[str] = []

    def keep(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", keep)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", keep)


def read_histograms(seen: list[str]) -> bool:
    """Whether any of ``seen`` read the histogram rows."""
    return any("FROM latency_histograms" in s for s in seen)
