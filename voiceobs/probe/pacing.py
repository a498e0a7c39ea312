"""Absolute-clock pacing: frame k of a call is due at ``t0 + k * 20 ms``, never "20 ms after the last".

A ``sleep(0.02)`` loop adds every wake-up's lateness to all later frames, so
a long call drifts and the target sees a caller who speaks too slowly. Here
each frame's due time is computed from the call's start, so lateness never
accumulates; the actual send time of every frame is kept, because EoS (and so
every latency) is measured from when the frame really left, and the pacing
error is itself reported so a busy probe host cannot pass for a slow target.

Many calls in one process are spread over the 20 ms period (each call gets a
phase), so N calls do not all wake in the same millisecond and queue behind
each other.
"""

from __future__ import annotations

import asyncio
import math
import time

import numpy as np

FRAME_S = 0.020

#: asyncio's selector rounds every timeout up to a whole millisecond, so a plain
#: sleep to the due time lands 0-1 ms late. Sleeping to 1 ms before it lands in
#: the last millisecond; from there the frame goes at once when under half a
#: millisecond early, or after one more (rounded-up) sleep when more, which
#: bounds the timer's own error at about 0.5 ms either side.
_GUARD_S = 0.001
_HALF_TICK_S = 0.0005


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

    async def wait(self, k: int) -> None:
        """Sleep until frame ``k`` is due (returns at once when already late)."""
        target = self.due(k)
        delay = target - now()
        if delay > _GUARD_S:
            await asyncio.sleep(delay - _GUARD_S)
            delay = target - now()
        if delay > _HALF_TICK_S:
            await asyncio.sleep(delay)

    def record(self, k: int, sent_at: float) -> None:
        """Keep the due and actual send time of frame ``k`` (frames are recorded in order)."""
        self.scheduled.append(self.due(k))
        self.actual.append(sent_at)

    def errors_ms(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Absolute pacing error per frame, in milliseconds."""
        s = np.asarray(self.scheduled[start:stop])
        a = np.asarray(self.actual[start:stop])
        return np.abs(a - s) * 1000.0


def percentile(values: np.ndarray | list[float], q: float) -> float | None:
    """A percentile that is None (not NaN) for no data, so stored results never hold NaN."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return None
    return float(np.percentile(arr, q))


__all__ = ["FRAME_S", "Pacer", "aligned_start", "now", "percentile", "phase_for"]
