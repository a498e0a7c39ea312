"""A front-door TCP router for the demo: callers dial one address, failover picks the upstream.

Real deployments fail over by moving traffic (a load balancer pool, a DNS
record, a SIP trunk route). The demo does the same on loopback: every
connection to the router is spliced byte-for-byte to the active upstream, so
WebSocket calls of either protocol pass through untouched, and a failover
hook switches the upstream for new calls.

The router answers one HTTP path itself, on the same port:

* ``POST /_router/failover`` with an Alertmanager webhook payload (what a
  voiceobs ``webhook`` hook sends): ``status: firing`` switches to the
  backup; ``resolved`` is recorded but traffic stays on the backup, because
  a resolved alert means the backup is serving well, not that the primary
  healed.
* ``GET /_router/state``: the active upstream and the switch history.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

_HEAD_LIMIT = 64 * 1024
_HEAD_TIMEOUT_S = 10.0
_CONNECT_TIMEOUT_S = 5.0


@dataclass
class Upstream:
    """A named upstream address."""

    name: str
    host: str
    port: int


@dataclass
class Router:
    """Splices each connection to ``active``; ``failover()`` moves new calls to the backup."""

    primary: Upstream
    backup: Upstream
    host: str = "127.0.0.1"
    port: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.active = self.primary
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Bind and start accepting; ``port`` becomes the bound port."""
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop accepting and cut every spliced connection."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def failover(self, reason: str) -> bool:
        """Switch new calls to the backup; False when already there."""
        if self.active is self.backup:
            self.history.append({"at": time.time(), "event": "failover-ignored", "reason": reason})
            return False
        self.active = self.backup
        self.history.append(
            {"at": time.time(), "event": "failover", "to": self.backup.name, "reason": reason}
        )
        log.warning("router: traffic switched to %s (%s)", self.backup.name, reason)
        return True

    def state(self) -> dict[str, Any]:
        """What ``GET /_router/state`` returns."""
        return {"active": self.active.name, "history": self.history}

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _HEAD_TIMEOUT_S)
            if len(head) > _HEAD_LIMIT:
                return
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            parts = line.split(" ")
            path = parts[1] if len(parts) > 1 else "/"
            if path.startswith("/_router/"):
                await self._admin(parts[0], path, head, reader, writer)
            else:
                await self._splice(head, reader, writer)
        except (
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            TimeoutError,
            ConnectionError,
        ):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()
            if task is not None:
                self._tasks.discard(task)

    async def _admin(
        self,
        method: str,
        path: str,
        head: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        length = 0
        for raw in head.split(b"\r\n")[1:]:
            name, _, value = raw.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip() or 0)
        body = (
            await asyncio.wait_for(reader.readexactly(length), _HEAD_TIMEOUT_S) if length else b""
        )
        status, payload = 404, {"error": "unknown path"}
        if path == "/_router/state" and method == "GET":
            status, payload = 200, self.state()
        elif path == "/_router/failover" and method == "POST":
            try:
                alert = json.loads(body or b"{}")
            except json.JSONDecodeError:
                status, payload = 400, {"error": "body must be an Alertmanager webhook payload"}
            else:
                if alert.get("status") == "firing":
                    names = [a.get("labels", {}).get("slo", "?") for a in alert.get("alerts", [])]
                    self.failover("alert firing: " + ",".join(names))
                else:
                    self.history.append({"at": time.time(), "event": "resolved-notified"})
                status, payload = 200, self.state()
        data = json.dumps(payload).encode()
        writer.write(
            f"HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
            + data
        )
        await writer.drain()

    async def _splice(
        self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        upstream = self.active
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(upstream.host, upstream.port), _CONNECT_TIMEOUT_S
            )
        except (OSError, TimeoutError):
            writer.write(
                b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            await writer.drain()
            return
        up_writer.write(head)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    dst.close()

        try:
            await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        finally:
            with contextlib.suppress(Exception):
                up_writer.close()


__all__ = ["Router", "Upstream"]
