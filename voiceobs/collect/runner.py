"""Run the collector's HTTP server: in the foreground for the CLI, on a thread for tests and the demo.

Both go through uvicorn with its lifespan on, so the collector's writer
starts with the server and, when the server stops, the queue is drained and
open calls are recorded before control returns. Access logs are off: a
request line carries its query string, and nothing the collector logs may
carry what a caller said or typed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from starlette.applications import Starlette

from voiceobs.collect.adapters import span_adapters
from voiceobs.collect.assembly import CallAssembler
from voiceobs.collect.ingest import Assembler, Collector
from voiceobs.collect.plausible import Refusals
from voiceobs.collect.server import CollectConfig, create_app
from voiceobs.errors import ConfigError, VoiceObsError
from voiceobs.redact import Redactor

log = logging.getLogger(__name__)

#: Longest wait for in-flight requests at shutdown before connections are closed.
GRACEFUL_S = 30


def uvicorn_config(app: Starlette, host: str, port: int, log_level: str = "warning") -> uvicorn.Config:
    """The one uvicorn configuration both ways of running share."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_S,
    )


def load_assembler(idle_timeout_s: float, refusals: Refusals | None = None) -> Assembler:
    """The call assembler with every framework adapter (the generic schema tried last)."""
    try:
        return CallAssembler(span_adapters(), idle_timeout_s=idle_timeout_s, refusals=refusals)
    except ValueError as exc:
        raise ConfigError(f"cannot set up call assembly: {exc}") from None


@dataclass
class CollectHandle:
    """A collector server running on a thread: its URL, its collector, and how to stop it."""

    host: str
    port: int
    collector: Collector
    _server: uvicorn.Server
    _thread: threading.Thread

    @property
    def url(self) -> str:
        """Base URL (``/v1/traces``, ``/webhooks/...``, ``/metrics``)."""
        return f"http://{self.host}:{self.port}"

    def stop(self, timeout_s: float = 60.0) -> None:
        """Shut down like SIGTERM does (drain, record open calls) and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout_s)


def start(
    collector: Collector,
    config: CollectConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    redactor: Redactor | None = None,
    startup_timeout_s: float = 60.0,
) -> CollectHandle:
    """Serve ``collector`` on a background thread (``port=0``: any free port)."""
    app = create_app(collector, config, redactor)
    server = uvicorn.Server(uvicorn_config(app, host, port))
    thread = threading.Thread(target=server.run, name="voiceobs-collect", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive():
            raise VoiceObsError("the collector server exited during startup; see the log above")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise VoiceObsError(f"the collector server did not start within {startup_timeout_s:.0f} s")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    return CollectHandle(host, int(bound), collector, server, thread)


@contextmanager
def running(
    collector: Collector, config: CollectConfig | None = None, **kwargs: object
) -> Iterator[CollectHandle]:
    """``with running(Collector(store)) as srv: ...``, stopped (drained) on exit."""
    handle = start(collector, config, **kwargs)  # type: ignore[arg-type]
    try:
        yield handle
    finally:
        handle.stop()


__all__ = ["GRACEFUL_S", "CollectHandle", "load_assembler", "running", "start", "uvicorn_config"]
