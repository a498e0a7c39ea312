"""Absolute-clock pacing: frame k of a call is due at ``t0 + k * 20 ms``, never "20 ms after the last".

A ``sleep(0.02)`` loop adds every wake-up's lateness to all later frames, so
a long call drifts and the target sees a caller who speaks too slowly. Here
each frame's due time is computed from the call's start, so lateness never
accumulates; the actual send time of every frame is kept, because EoS (and so
every latency) is measured from when the frame really left, and the pacing
error is itself reported so a busy probe host cannot pass for a slow target.

Many calls in one process are spread over the 20 ms period (each call gets a
phase), so N calls do not all wake in the same millisecond and queue behind
each other, and one ``FrameClock`` per event loop sends every call's frames
from a single timer: a task and two timers per frame per call cost more than
the frame itself, and at 200 calls that overhead alone pushed the p99 error
past 2 ms.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
import time
import weakref
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

FRAME_S = 0.020

#: asyncio's selector rounds every timeout up to a whole millisecond, so a timer
#: set for the due time fires 0-1 ms late. The clock's timer is set half a
#: millisecond early and sends every frame due within the next half
#: millisecond, which centres the timer's own error on zero (about 0.5 ms either
#: side) instead of making it all lateness.
_EARLY_S = 0.0005


def now() -> float:
    """The probe's clock (monotonic, the event loop's own clock on Linux)."""
    return time.monotonic()


def phase_for(index: int, count: int) -> float:
    """The offset within a 20 ms period for call ``index`` of ``count`` concurrent calls."""
    if count <= 1:
        return 0.0
    return (index % count) * FRAME_S / count


def aligned_start(earliest: float, phase: float) -> float:
    """The first time at or after ``earliest`` that falls on this call's phase of the 20 ms grid."""
    base = math.floor(earliest / FRAME_S) * FRAME_S + phase
    while base < earliest:
        base += FRAME_S
    return base


class Pacer:
    """The schedule of one call: due times from its start, and the send times achieved."""

    def __init__(self, t0: float, period: float = FRAME_S) -> None:
        self.t0 = t0
        self.period = period
        self.scheduled: list[float] = []
        self.actual: list[float] = []

    def due(self, k: int) -> float:
        """When frame ``k`` must be sent."""
        return self.t0 + k * self.period

    def record(self, k: int, sent_at: float) -> None:
        """Keep the due and actual send time of frame ``k`` (frames are recorded in order)."""
        self.scheduled.append(self.due(k))
        self.actual.append(sent_at)

    def errors_ms(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Absolute pacing error per frame, in milliseconds."""
        s = np.asarray(self.scheduled[start:stop])
        a = np.asarray(self.actual[start:stop])
        return np.abs(a - s) * 1000.0


class FrameSource(Protocol):
    """What the clock drives: one call's outgoing stream."""

    def send_frame(self, k: int, at: float) -> bool:
        """Send frame ``k`` now (``at`` is the send time to record); False stops the stream.

        Runs inside the event loop's timer callback, so it must not block, and
        an exception it raises stops only its own stream (see ``stream_failed``).
        """

    def stream_failed(self, exc: BaseException) -> None:
        """``send_frame`` raised: the stream is stopped, and the call must learn why."""


class _Stream:
    __slots__ = ("k", "pacer", "source", "stopped")

    def __init__(self, pacer: Pacer, source: FrameSource) -> None:
        self.pacer = pacer
        self.source = source
        self.k = 0
        self.stopped = False


class FrameClock:
    """One timer on an event loop that sends the due frame of every running call.

    Each stream's frames are due on its own absolute schedule (its ``Pacer``);
    the clock keeps the streams in a heap by next due time, wakes half a
    millisecond before the earliest, and sends every frame due by then, in due
    order. Sending is synchronous (a frame is a few hundred bytes handed to the
    socket), so a frame costs one function call, not a task wake-up.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[tuple[float, int, _Stream]] = []
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    @property
    def streams(self) -> int:
        """Streams that are still running (for tests and progress)."""
        return sum(1 for _, _, s in self._heap if not s.stopped)

    def start(self, pacer: Pacer, source: FrameSource) -> _Stream:
        """Start sending ``source``'s frames on ``pacer``'s schedule; returns a handle for ``stop``."""
        stream = _Stream(pacer, source)
        due = pacer.due(0)
        heapq.heappush(self._heap, (due, next(self._order), stream))
        self._arm(self._heap[0][0])
        return stream

    @staticmethod
    def stop(stream: _Stream) -> None:
        """Stop a stream; its heap entry is dropped when it comes due."""
        stream.stopped = True

    def poll(self) -> None:
        """Send whatever is due now; the receive path calls this between messages.

        asyncio runs every ready I/O callback of a loop iteration before any
        timer, so a burst of replies on many sockets would hold the frames back
        until it was all processed. Polling the clock after each message
        bounds that lateness by the cost of one message.
        """
        heap = self._heap
        if heap and heap[0][0] - _EARLY_S <= now():
            self._send_due()

    def _arm(self, due: float) -> None:
        # A timer already set no later than needed stays: firing early costs one
        # empty wake, while replacing it on every send costs a timer each time.
        at = due - _EARLY_S
        if at >= self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = at
        self._timer = self._loop.call_at(at, self._on_timer)

    def _on_timer(self) -> None:
        self._timer, self._timer_at = None, math.inf
        self._send_due()

    def _send_due(self) -> None:
        heap = self._heap
        while heap:
            due, order, stream = heap[0]
            if stream.stopped:
                heapq.heappop(heap)
                continue
            at = now()
            if due - at > _EARLY_S:
                break
            k = stream.k
            try:
                going = stream.source.send_frame(k, at)
            except Exception as exc:  # one call's failure must not stop the others
                going = False
                try:
                    stream.source.stream_failed(exc)
                except Exception:  # a broken handler must not stop the clock
                    log.exception("frame stream failure handler raised")
            if going and not stream.stopped:
                stream.k = k + 1
                heapq.heapreplace(heap, (stream.pacer.due(k + 1), order, stream))
            else:
                stream.stopped = True
                heapq.heappop(heap)
        if heap:
            self._arm(heap[0][0])


_clocks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, FrameClock] = weakref.WeakKeyDictionary()


def frame_clock() -> FrameClock:
    """The frame clock of the running event loop (one per loop, made on first use)."""
    loop = asyncio.get_running_loop()
    clock = _clocks.get(loop)
    if clock is None:
        clock = _clocks[loop] = FrameClock(loop)
    return clock


def percentile(values: np.ndarray | list[float], q: float) -> float | None:
    """A percentile that is None (not NaN) for no data, so stored results never hold NaN."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return None
    return float(np.percentile(arr, q))


__all__ = [
    "FRAME_S",
    "FrameClock",
    "FrameSource",
    "Pacer",
    "aligned_start",
    "frame_clock",
    "now",
    "percentile",
    "phase_for",
]
