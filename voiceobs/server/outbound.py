"""What the caller hears: the pipeline's output on its way to the socket.

Sits between a pipeline's :class:`~voiceobs.pipelines.base.CallSink` calls
and a protocol's wire encoder, and is where server-side faults act on
outbound traffic (delay, stall, drop, garble, silence; see
:mod:`voiceobs.pipelines.faults`) and where degraded mode mutes the pipeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Protocol

import numpy as np

from voiceobs.pipelines.faults import Faults, Garbler

log = logging.getLogger(__name__)


class Wire(Protocol):
    """A protocol's encoder for outbound messages."""

    async def audio(self, frame: np.ndarray) -> None:
        """Send one int16 frame at the call's rate."""

    async def clear(self) -> None:
        """Tell the caller to drop buffered playback."""

    async def mark(self, name: str) -> None:
        """Send a named text event."""

    async def mode(self, mode: str, message: str) -> None:
        """Tell the caller the server's mode changed (degraded notice)."""

    def abort(self) -> None:
        """Drop the TCP connection without a close frame."""


class Outbound:
    """A CallSink that applies the call's faults and keeps message order."""

    def __init__(self, wire: Wire, faults: Faults) -> None:
        self._wire = wire
        self.faults = faults
        self._garble = Garbler(seed=0) if faults.garble else None
        self._first_audio: float | None = None
        self._stalled = faults.stall_at_start
        self.muted = False
        self._queue: asyncio.Queue[tuple[float, str, object]] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._drop_task: asyncio.Task[None] | None = None
        if faults.delay_ms > 0:
            self._queue = asyncio.Queue()
            self._sender = asyncio.get_running_loop().create_task(self._send_loop())

    def _stall_now(self) -> bool:
        if self._stalled:
            return True
        after = self.faults.stall_after_s
        started = self._first_audio
        if after is not None and started is not None and time.monotonic() - started >= after:
            self._stalled = True
        return self._stalled

    async def send_audio(self, frame: np.ndarray) -> None:
        """Pipeline audio; dropped while degraded mode mutes the pipeline."""
        if self.muted:
            return
        await self.emit_audio(frame)

    async def emit_audio(self, frame: np.ndarray) -> None:
        """Audio from the server itself (the degraded apology), subject to faults only."""
        if self._first_audio is None:
            self._first_audio = time.monotonic()
            if self.faults.drop_after_s is not None:
                self._drop_task = asyncio.get_running_loop().create_task(self._drop_later())
        if self.faults.silence:
            frame = np.zeros_like(frame)
        elif self._garble is not None:
            frame = self._garble(frame)
        await self._put("audio", frame)

    async def clear(self) -> None:
        """Barge-in: forget delayed audio not yet sent, then tell the caller."""
        if self.muted:
            return
        if self._queue is not None:
            kept: list[tuple[float, str, object]] = []
            while not self._queue.empty():
                item = self._queue.get_nowait()
                if item[1] != "audio":
                    kept.append(item)
            for item in kept:
                self._queue.put_nowait(item)
        await self._put("clear", None)

    async def send_event(self, name: str) -> None:
        """A named text event from the pipeline."""
        if self.muted:
            return
        await self._put("mark", name)

    async def send_mode(self, mode: str, message: str) -> None:
        """The server's mode notice (never muted)."""
        await self._put("mode", (mode, message))

    async def _put(self, kind: str, payload: object) -> None:
        if self._queue is not None:
            self._queue.put_nowait(
                (time.monotonic() + self.faults.delay_ms / 1000.0, kind, payload)
            )
            return
        await self._deliver(kind, payload)

    async def _deliver(self, kind: str, payload: object) -> None:
        if self._stall_now():
            return
        if kind == "audio":
            assert isinstance(payload, np.ndarray)
            await self._wire.audio(payload)
        elif kind == "clear":
            await self._wire.clear()
        elif kind == "mark":
            await self._wire.mark(str(payload))
        elif kind == "mode":
            assert isinstance(payload, tuple)
            await self._wire.mode(payload[0], payload[1])

    async def _send_loop(self) -> None:
        assert self._queue is not None
        while True:
            due, kind, payload = await self._queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            await self._deliver(kind, payload)

    async def _drop_later(self) -> None:
        assert self.faults.drop_after_s is not None
        await asyncio.sleep(self.faults.drop_after_s)
        log.info("fault drop: aborting the connection")
        self._wire.abort()

    async def close(self) -> None:
        """Stop background senders."""
        for task in (self._sender, self._drop_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


__all__ = ["Outbound", "Wire"]
