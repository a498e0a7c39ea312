"""Pacing: an absolute clock that does not drift, and holds under 50 concurrent calls."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable

import numpy as np
import pytest

from tests.helpers import ServerProcess
from voiceobs.probe.pacing import FRAME_S, Pacer, aligned_start, frame_clock, phase_for
from voiceobs.probe.spec import ProbeSpec
from voiceobs.recording import run_spec


class _Recorder:
    """A frame source that records its sends, and can stall the loop or fail on cue."""

    def __init__(self, pacer: Pacer, frames: int, stall_at: int = -1, fail_at: int = -1) -> None:
        self.pacer = pacer
        self.frames = frames
        self.stall_at = stall_at
        self.fail_at = fail_at
        self.failed: BaseException | None = None
        self.done = asyncio.Event()

    def send_frame(self, k: int, at: float) -> bool:
        if k == self.fail_at:
            raise ConnectionError("socket gone")
        self.pacer.record(k, at)
        if k == self.stall_at:
            time.sleep(0.045)  # blocks the whole loop for more than two frames
        if k + 1 == self.frames:
            self.done.set()
            return False
        return True

    def stream_failed(self, exc: BaseException) -> None:
        self.failed = exc
        self.done.set()


async def test_late_frame_does_not_shift_later_ones() -> None:
    pacer = Pacer(time.monotonic() + 0.01)
    source = _Recorder(pacer, 30, stall_at=5)
    frame_clock().start(pacer, source)
    await asyncio.wait_for(source.done.wait(), 5)
    errors = pacer.errors_ms()
    assert len(errors) == 30
    assert errors[6] > 20  # the frame right after the stall is late ...
    # ... but the schedule is absolute, so the clock catches up instead of drifting: a
    # clock that timed each frame from the previous send would keep every later frame
    # at least as late as frame 6. (How close to due it sends on an idle host is the
    # pacing benchmark's figure, not this test's.)
    assert np.median(errors[10:]) < errors[6] - 10.0
    # Catching up, frames left closer together than a period until back on the grid.
    assert pacer.actual[29] - pacer.actual[6] < 23 * FRAME_S - 0.010


async def test_one_clock_paces_many_streams_and_a_failure_stops_only_its_own() -> None:
    t0 = time.monotonic() + 0.02
    clock = frame_clock()
    assert clock is frame_clock()  # one per event loop
    good = [_Recorder(Pacer(t0 + phase_for(i, 8)), 25) for i in range(8)]
    bad = _Recorder(Pacer(t0), 25, fail_at=3)
    for source in [*good, bad]:
        clock.start(source.pacer, source)
    await asyncio.wait_for(asyncio.gather(*(s.done.wait() for s in [*good, bad])), 5)
    assert isinstance(bad.failed, ConnectionError) and len(bad.pacer.actual) == 3
    for source in good:
        assert source.failed is None and len(source.pacer.actual) == 25
    # One clock for every stream: frames leave in the order they are due across streams,
    # each stream on its own phase of the grid, whatever the host's load makes them late by.
    sends = sorted(
        (due, sent)
        for s in good
        for due, sent in zip(s.pacer.scheduled, s.pacer.actual, strict=True)
    )
    assert all(a[1] <= b[1] for a, b in itertools.pairwise(sends))
    assert clock.streams == 0


async def test_a_stopped_stream_sends_nothing_more() -> None:
    pacer = Pacer(time.monotonic() + 0.005)
    source = _Recorder(pacer, 1000)
    clock = frame_clock()
    stream = clock.start(pacer, source)
    while len(pacer.actual) < 3:
        await asyncio.sleep(0.005)
    clock.stop(stream)
    sent = len(pacer.actual)
    await asyncio.sleep(0.1)
    assert len(pacer.actual) == sent


def test_phases_spread_calls_over_the_period() -> None:
    phases = [phase_for(i, 4) for i in range(4)]
    assert phases == pytest.approx([0, 0.005, 0.010, 0.015])
    start = aligned_start(100.0031, 0.005)
    assert (
        start >= 100.0031
        and abs((start - 0.005) / FRAME_S - round((start - 0.005) / FRAME_S)) < 1e-6
    )


@pytest.mark.slow
def test_fifty_concurrent_calls_complete_and_each_reports_its_pacing_error(
    echo_server: ServerProcess, spec_for: Callable[..., ProbeSpec]
) -> None:
    # How well the probe keeps time (p99 under 2 ms at 200 calls) depends on the host's
    # load, so it is measured by benchmarks/probe/bench_pacing.py against a baseline in the
    # same run; here every call must complete and carry the figure, on any host.
    spec = spec_for(
        echo_server.url("twilio"),
        calls=50,
        concurrency=50,
        timeouts={"connect_s": 10, "first_audio_s": 5, "call_s": 30},
    )
    results = run_spec(spec, save=False)
    assert len(results) == 50
    assert all(r.ok for r in results), {r.failure_detail for r in results if not r.ok}
    p99s = [t.pacing_error_p99_ms for r in results for t in r.turns]
    assert p99s and all(p is not None and 0.0 <= p < 1000.0 for p in p99s), sorted(p99s)[-5:]


def test_asyncio_clock_is_the_pacing_clock() -> None:
    """The loop's clock reads time.monotonic: bracketed by two readings, however busy the host."""

    async def bracketed() -> tuple[float, float, float]:
        before = time.monotonic()
        at = asyncio.get_running_loop().time()
        return before, at, time.monotonic()

    before, at, after = asyncio.run(bracketed())
    assert before <= at <= after
