"""Run the server in-process on a background thread (tests, the demo, probes' own tests).

``voiceobs serve`` runs uvicorn in the foreground; everything else that
needs a real server on loopback (a real socket, real handshakes, real
timing) uses :func:`running_server`, which binds a free port, waits until
the pipeline is loaded, and shuts down cleanly on exit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from starlette.applications import Starlette

from voiceobs.errors import PipelineError
from voiceobs.pipelines.base import Pipeline
from voiceobs.server.app import create_app
from voiceobs.server.config import ServerConfig
from voiceobs.server.state import ServerState


@dataclass
class ServerHandle:
    """A running server: its URLs, its state (for tests) and how to stop it."""

    host: str
    port: int
    app: Starlette
    _server: uvicorn.Server
    _thread: threading.Thread

    @property
    def http_url(self) -> str:
        """Base URL for /healthz, /metrics, /admin."""
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """Base URL for /twilio and /pcm."""
        return f"ws://{self.host}:{self.port}"

    @property
    def state(self) -> ServerState:
        """Live server state (mode, active calls, metrics registry)."""
        state = self.app.state.voiceobs
        assert isinstance(state, ServerState)
        return state

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask uvicorn to exit and wait for the thread (deadline ``timeout_s``)."""
        self._server.should_exit = True
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout_s)


def start_server(
    config: ServerConfig, pipeline: Pipeline | None = None, startup_timeout_s: float = 120.0
) -> ServerHandle:
    """Start on ``config.host`` and a free port (``config.port`` is ignored when 0)."""
    app = create_app(config, pipeline)
    uv_config = uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        log_level="warning",
        lifespan="on",
        ws="websockets-sansio",
        ws_ping_interval=None,
    )
    server = uvicorn.Server(uv_config)
    thread = threading.Thread(target=server.run, name="voiceobs-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive():
            raise PipelineError("the server thread exited during startup; see the log above")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise PipelineError(f"the server did not start within {startup_timeout_s:.0f} s")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    return ServerHandle(config.host, int(port), app, server, thread)


@contextmanager
def running_server(
    config: ServerConfig, pipeline: Pipeline | None = None
) -> Iterator[ServerHandle]:
    """``with running_server(ServerConfig(pipeline="echo", port=0)) as srv: ...``"""
    handle = start_server(config, pipeline)
    try:
        yield handle
    finally:
        handle.stop()


__all__ = ["ServerHandle", "running_server", "start_server"]
