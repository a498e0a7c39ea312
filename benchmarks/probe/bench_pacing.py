"""How many concurrent calls one probe process paces with p99 send error under 2 ms.

Each level N runs a probe spec of N simultaneous calls (one 1.2 s prompt,
then listening for the echo) through ``run_spec_async``, exactly what
``voiceobs probe run`` does (tracing, redaction, real-time priority, the
paused GC), against the reference echo server in its own process on loopback,
and compares every frame's send time with its absolute schedule. Contenders,
measured in the same run against the same server:

* ``frame clock+rt``: what ships: one ``FrameClock`` per event loop, the
  pacing thread at SCHED_RR where the host allows it;
* ``frame clock``: the same on the normal scheduler (``VOICEOBS_REALTIME=off``);
* ``task per call+rt``: a task per call sleeping to each frame's due time
  (two timers and a task wake-up per frame), the design voiceobs shipped first;
* ``naive sleep+rt``: ``sleep(0.02)`` after each frame, the loop everyone
  writes first, whose lateness accumulates (drift);
* ``barge-in+rt`` (``--barge-in``): what ships, with every call interrupting
  its reply once (a ``barge_in:`` turn 300 ms after the echo's first speech
  after EoS; the echo repeats the interruption, so its deadline is 10 s),
  so the conductor switches prompts mid-call, watches the barge-in deadline
  while the interruption is spoken and decodes as it goes. Compared with
  ``frame clock+rt`` in the same run.

* ``N workers`` (``--workers 1,2``): what ``voiceobs probe run --workers N``
  does, the calls dealt over N spawned processes (``run_spec_workers``), each
  pacing its share on its own frame clock at real-time priority; compared
  with ``frame clock+rt``, the same calls from this one process, in the same
  run. Every worker's frames are read back (each worker writes its frames'
  errors to a scratch directory), so the p99 is over every frame of every
  call, as for one process.

Each level runs ``--repeats`` times per contender after one warm-up run; the
table shows the median run's p99 (and the worst run's), so one lucky or
unlucky run decides nothing. ``peak`` is the most calls that were sending
frames at the same moment in that run (from every stream's first and last
due time), so a level whose calls did not all overlap says so.

    .venv/bin/python benchmarks/probe/bench_pacing.py [--levels 50,100,150,200] [--repeats 3]
    .venv/bin/python benchmarks/probe/bench_pacing.py --levels 200 --contenders shipped --barge-in
    .venv/bin/python benchmarks/probe/bench_pacing.py --levels 200,400 --contenders shipped --workers 1,2
    .venv/bin/python benchmarks/probe/bench_pacing.py --levels 800,1000 --contenders shipped --workers 2 --server-rt

``--server-rt`` runs the echo server at SCHED_RR priority 5, below the
probe's 10 (the tests run their servers so): on a machine the server shares
with a real-time probe, the server is otherwise the first thing starved, and
its stalled replies fail calls as ``timeout`` before the probe's pacing
suffers.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import platform
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator

import numpy as np
import yaml

from voiceobs.probe import call as call_module
from voiceobs.probe import runner as runner_module
from voiceobs.probe.pacing import FrameSource, Pacer, frame_clock
from voiceobs.probe.runner import run_spec_async
from voiceobs.probe.spec import parse_spec
from voiceobs.probe.workers import run_spec_workers

PROMPT = "Hello, I would like to check the status of my order."
INTERRUPTION = "Sorry, actually, one more thing."

_SERVER = textwrap.dedent(
    """
    import sys
    from voiceobs.server.app import ServerConfig
    from voiceobs.server.runner import start_server
    h = start_server(ServerConfig(pipeline="echo", port=0, max_calls=2000, device="cpu"))
    print(h.port, flush=True)
    sys.stdin.read()
    h.stop()
    """
)


def _server_realtime() -> None:
    with contextlib.suppress(OSError):
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(5))


class _TaskPerCallClock:
    """A baseline clock: a task per call that sleeps to each frame (see the module doc)."""

    def __init__(self, naive: bool) -> None:
        self.naive = naive

    def start(self, pacer: Pacer, source: FrameSource) -> asyncio.Task[None]:
        return asyncio.create_task(self._run(pacer, source))

    @staticmethod
    def stop(stream: asyncio.Task[None]) -> None:
        stream.cancel()

    def poll(self) -> None:
        """Each call's task paces itself; nothing to send from elsewhere."""

    async def _run(self, pacer: Pacer, source: FrameSource) -> None:
        k = 0
        while True:
            if self.naive and k:
                await asyncio.sleep(pacer.period)
            else:
                delay = pacer.due(k) - time.monotonic()
                if delay > 0.001:
                    await asyncio.sleep(delay - 0.001)
                    delay = pacer.due(k) - time.monotonic()
                if delay > 0.0005:
                    await asyncio.sleep(delay)
            try:
                going = source.send_frame(k, time.monotonic())
            except Exception as exc:
                source.stream_failed(exc)
                return
            if not going:
                return
            k += 1


_pacers: list[Pacer] = []


class _RecordedPacer(Pacer):
    """The shipped Pacer, remembered so the benchmark can read every frame's error."""

    def __init__(self, t0: float, period: float = 0.020) -> None:
        super().__init__(t0, period)
        _pacers.append(self)


@contextlib.contextmanager
def _contender(clock: Callable[[], object], realtime: bool) -> Iterator[None]:
    saved = os.environ.get("VOICEOBS_REALTIME")
    os.environ["VOICEOBS_REALTIME"] = "auto" if realtime else "off"
    call_module.frame_clock = clock  # type: ignore[assignment]
    try:
        yield
    finally:
        call_module.frame_clock = frame_clock
        if saved is None:
            os.environ.pop("VOICEOBS_REALTIME", None)
        else:
            os.environ["VOICEOBS_REALTIME"] = saved


def _spec(url: str, n: int, barge_in: bool = False) -> object:
    turn: dict[str, object] = {"prompt": PROMPT, "reference": "prompt", "end_silence_ms": 300}
    if barge_in:
        # The echo repeats the interruption rather than stopping for it: a deadline past its
        # length keeps every call going, since what is measured here is the probe's pacing.
        turn["barge_in"] = {"after_ms": 300, "prompt": INTERRUPTION, "deadline_ms": 10_000}
    data = {
        "version": "voiceobs/v1",
        "name": "bench-pacing",
        "target": url,
        "protocol": "twilio",
        "calls": n,
        "concurrency": n,
        "metrics": [],
        "timeouts": {"connect_s": 20, "first_audio_s": 10, "call_s": 60},
        "turns": [turn],
    }
    return parse_spec(yaml.safe_dump(data), "bench.yaml")


_place_calls = runner_module._run_calls
_loop_load: list[float] = []


async def _timed_calls(*args: object, **kwargs: object) -> object:
    """The runner's call phase, with the CPU its event-loop thread used over it (cores busy)."""
    before, started = resource.getrusage(resource.RUSAGE_THREAD), time.monotonic()
    try:
        return await _place_calls(*args, **kwargs)  # type: ignore[arg-type]
    finally:
        after = resource.getrusage(resource.RUSAGE_THREAD)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        _loop_load.append(cpu / max(time.monotonic() - started, 1e-9))


#: Why calls failed, over a contender's runs (printed under its row).
_failures: collections.Counter[str] = collections.Counter()

#: Where each worker process writes its frames' errors (the environment reaches spawned workers).
_FRAMES_DIR = "VOICEOBS_BENCH_FRAMES_DIR"


async def _worker_calls(*args: object, **kwargs: object) -> object:
    """In a worker process: the call phase, then every frame's error and the loop's load to a file."""
    _pacers.clear()
    _loop_load.clear()
    try:
        return await _timed_calls(*args, **kwargs)
    finally:
        errors = [p.errors_ms() for p in _pacers if p.actual]
        np.savez(
            os.path.join(os.environ[_FRAMES_DIR], f"{os.getpid()}-{time.monotonic_ns()}.npz"),
            errors=np.concatenate(errors) if errors else np.zeros(0),
            load=np.asarray(_loop_load[-1:] or [float("nan")]),
            spans=_streaming(),
        )


if __name__ == "__mp_main__" and os.environ.get(_FRAMES_DIR):
    # A spawned probe worker imports this script as ``__mp_main__`` before it
    # runs its share: record its pacers the way the parent records its own.
    call_module.Pacer = _RecordedPacer  # type: ignore[misc]
    runner_module._run_calls = _worker_calls  # type: ignore[assignment]


def _streaming() -> np.ndarray:
    """(first, last) due time of every paced stream: CLOCK_MONOTONIC, the same in every process."""
    return np.asarray([(p.scheduled[0], p.scheduled[-1]) for p in _pacers if p.scheduled]).reshape(-1, 2)


#: The most streams sending frames at the same moment in the last run (its real concurrency:
#: with many calls, connecting them all takes longer than one prompt lasts).
_peak: list[int] = [0]


def _peak_of(spans: np.ndarray) -> int:
    events = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans], key=lambda e: (e[0], e[1]))
    live = peak = 0
    for _, step in events:
        live += step
        peak = max(peak, live)
    return peak


def _run_workers(url: str, n: int, workers: int) -> tuple[np.ndarray, int, float]:
    with tempfile.TemporaryDirectory() as scratch:
        os.environ[_FRAMES_DIR] = scratch
        try:
            results = run_spec_workers(_spec(url, n), workers)  # type: ignore[arg-type]
        finally:
            os.environ.pop(_FRAMES_DIR, None)
        parts = [np.load(os.path.join(scratch, f)) for f in sorted(os.listdir(scratch))]
    assert len(parts) == workers, f"{len(parts)} of {workers} workers reported their frames"
    errors = np.concatenate([p["errors"] for p in parts])
    _peak[0] = _peak_of(np.concatenate([p["spans"] for p in parts]))
    load = float(np.nanmean([float(p["load"][0]) for p in parts]))  # per worker's loop thread
    _failures.update(f"{r.failure_class}: {r.failure_detail}"[:120] for r in results if not r.ok)
    return errors, sum(not r.ok for r in results), load


def _run(url: str, n: int, barge_in: bool = False, workers: int = 0) -> tuple[np.ndarray, int, float]:
    """Errors of every frame, failed calls, and the loop thread's load during the calls."""
    if workers:
        return _run_workers(url, n, workers)
    _pacers.clear()
    _loop_load.clear()
    results = asyncio.run(run_spec_async(_spec(url, n, barge_in)))  # type: ignore[arg-type]
    failed = sum(not r.ok for r in results)
    _failures.update(f"{r.failure_class}: {r.failure_detail}"[:120] for r in results if not r.ok)
    if barge_in:
        interrupted = sum(any(t.kind == "barge_in" and t.barge_in_stop_ms is not None for t in r.turns) for r in results)
        assert interrupted == len(results) - failed, f"only {interrupted} of {len(results)} calls barged in"
    errors = [p.errors_ms() for p in _pacers if p.actual]
    _peak[0] = _peak_of(_streaming())
    return (np.concatenate(errors) if errors else np.zeros(0)), failed, _loop_load[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--levels", default="50,100,150,200")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--contenders", default="all", help="'all' or 'shipped' (the frame clock at real-time priority only)"
    )
    parser.add_argument("--barge-in", action="store_true", help="add the shipped clock with every call barging in once")
    parser.add_argument(
        "--workers", default="", help="add `probe run --workers N` for each N listed (e.g. 1,2)"
    )
    parser.add_argument(
        "--server-rt",
        action="store_true",
        help="run the echo server at SCHED_RR 5 (below the probe's 10), as the tests do: on a "
        "machine it shares with the probe, a real-time probe otherwise starves it first",
    )
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=_server_realtime if args.server_rt else None,
    )
    assert server.stdout is not None
    port = int(server.stdout.readline())
    url = f"ws://127.0.0.1:{port}/twilio"
    call_module.Pacer = _RecordedPacer  # type: ignore[misc]
    runner_module._run_calls = _timed_calls  # type: ignore[assignment]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    contenders: list[tuple[str, Callable[[], object], bool, bool]] = [("frame clock+rt", frame_clock, True, False)]
    if args.barge_in:
        contenders.append(("barge-in+rt", frame_clock, True, True))
    worker_counts = {f"{w} worker{'s' if w > 1 else ''}": w for w in (int(x) for x in args.workers.split(",") if x)}
    contenders += [(name, frame_clock, True, False) for name in worker_counts]
    if args.contenders == "all":
        contenders += [
            ("frame clock", frame_clock, False, False),
            ("task per call+rt", lambda: _TaskPerCallClock(naive=False), True, False),
            ("naive sleep+rt", lambda: _TaskPerCallClock(naive=True), True, False),
        ]
    best: dict[str, int] = {name: 0 for name, _, _, _ in contenders}
    try:
        _run(url, 10)  # warm-up: first-use costs (imports, allocations) are not pacing
        print(
            f"{'calls':>6} {'pacer':>17} {'p50 ms':>8} {'p99 ms':>8} {'worst p99':>10} {'max ms':>8} "
            f"{'failed':>7} {'loop cpu':>9} {'peak':>5}"
        )
        for n in levels:
            p99s: dict[str, float] = {}
            for name, clock, rt, barge in contenders:
                runs = []
                _failures.clear()
                with _contender(clock, rt):
                    for _ in range(args.repeats):
                        errors, failed, load = _run(url, n, barge, worker_counts.get(name, 0))
                        p99 = float(np.percentile(errors, 99)) if errors.size else float("nan")
                        runs.append((p99, errors, failed, load, _peak[0]))
                        time.sleep(1.0)
                runs.sort(key=lambda r: r[0])
                p99, errors, _, load, peak = runs[len(runs) // 2]
                failed = sum(r[2] for r in runs)
                print(
                    f"{n:>6} {name:>17} {np.percentile(errors, 50):8.2f} {p99:8.2f} {runs[-1][0]:10.2f} "
                    f"{max(float(r[1].max()) for r in runs):8.2f} {failed:>7} {load:9.2f} {peak:>5}"
                )
                for why, count in _failures.most_common(3):
                    print(f"{'':>6} {'':>17} failed x{count}: {why}")
                p99s[name] = p99
                if p99 < 2.0 and failed == 0:
                    best[name] = max(best[name], n)
            if len(p99s) > 1:
                ours = p99s["frame clock+rt"]
                print(
                    f"{n:>6} median p99 vs shipped: "
                    + ", ".join(f"{name} {p99s[name] / ours:.1f}x" for name in p99s if name != "frame clock+rt")
                )
    finally:
        call_module.Pacer = Pacer  # type: ignore[misc]
        runner_module._run_calls = _place_calls  # type: ignore[assignment]
        if server.stdin:
            server.stdin.close()
        server.wait(10)
    print(
        "most calls with median p99 < 2 ms: "
        + ", ".join(f"{name} {count}" for name, count in best.items())
        + " (target 200 per core)"
    )


if __name__ == "__main__":
    main()
