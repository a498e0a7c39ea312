"""One probe run spread over several processes (``voiceobs probe run --workers N``).

One process paces about 200 concurrent calls with a p99 send error under
2 ms (``benchmarks/probe/PACING.md``): past that its core is saturated and
every call's frames leave late. Here the spec's calls are dealt round-robin
over N spawned processes (``runner.Share``), and each paces its share on its
own event loop and frame clock, at real-time priority where the host allows
it, so the ceiling is per core instead of per host.

The workers only place calls: each sends its raw results back over a pipe,
and the parent merges them into spec order and hands them to the one
recording path once, so a call is stored exactly once whatever happens to a
worker. A worker that dies (killed, out of memory, a crash) before sending
its results has placed calls the parent cannot see; each of them becomes a
failed result of class ``worker_lost`` (stored like any failure, so the run
exits 1), never a silently missing call and never a duplicate.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import pickle
import signal
import socket
from collections.abc import Callable, Sequence
from datetime import datetime
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from voiceobs._version import __version__
from voiceobs.config import resolve
from voiceobs.errors import ConfigError, FailureClass, VoiceObsError
from voiceobs.probe.runner import Progress, Share, planned_turns, run_spec_async
from voiceobs.probe.spec import ProbeSpec
from voiceobs.results import RunResult, TurnResult, utcnow

#: A run places "many" calls at once from this many concurrent calls on: by
#: default it then gets one worker per core. Below it one process paces every
#: call well inside the 2 ms budget, and a worker costs a second or two of
#: start-up (a fresh interpreter importing the probe), so one process it is.
HIGH_CONCURRENCY = 100


def cores() -> int:
    """The CPUs this process may use: its affinity, capped by a cgroup CPU quota.

    In a container the affinity is usually the whole node, while the pod's
    CPU limit is a quota (cgroup v2 ``cpu.max``); a worker per node core on a
    2-CPU pod would only compete with itself, so the quota counts too.
    """
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        count = os.cpu_count() or 1
    quota = _cgroup_cpus(Path("/sys/fs/cgroup/cpu.max"))
    return max(1, min(count, quota)) if quota is not None else count


def _cgroup_cpus(path: Path) -> int | None:
    """Whole CPUs a cgroup v2 ``cpu.max`` allows (``QUOTA PERIOD``, or ``max`` for none)."""
    try:
        quota, period = path.read_text().split()[:2]
        return math.ceil(int(quota) / int(period)) if quota != "max" else None
    except (OSError, ValueError):
        return None


def concurrent_calls(spec: ProbeSpec) -> int:
    """How many of the spec's calls run at the same time."""
    return min(spec.concurrency, spec.total_calls)


def resolve_workers(spec: ProbeSpec, requested: int | str | None = None) -> int:
    """The number of worker processes for a run of ``spec``.

    ``requested`` (the flag, else ``VOICEOBS_PROBE_WORKERS``, else the config
    file) is a count or ``auto``; ``auto`` is one worker per core when at
    least ``HIGH_CONCURRENCY`` calls run at once, else 1, and never more
    workers than calls at once. An explicit count above the calls at once is
    refused: each worker paces at least one call at a time.
    """
    value = resolve("probe_workers", requested, "auto")
    parallel = concurrent_calls(spec)
    if str(value).strip().lower() == "auto":
        return min(cores(), parallel) if parallel >= HIGH_CONCURRENCY else 1
    try:
        count = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"--workers must be a whole number or 'auto', got {value!r}") from None
    if count < 1:
        raise ConfigError(f"--workers must be at least 1, got {count}")
    if count > parallel:
        raise ConfigError(
            f"--workers {count} is more than the {parallel} call(s) this run places at once; "
            f"give at most {parallel} (each worker paces at least one call)"
        )
    return count


def _worker(conn: Connection, spec: ProbeSpec, share: Share, report_progress: bool) -> None:
    """A worker's whole life: place its share, send the raw results, exit."""
    # The parent decides when a run is interrupted; a Ctrl-C reaches the whole
    # process group, and a worker that stopped on its own would lose its calls.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tick: Progress | None = None
    if report_progress:

        def tick(done: int, total: int, ok: bool) -> None:
            conn.send(("progress", ok))

    try:
        results = asyncio.run(run_spec_async(spec, share=share, progress=tick))
    except VoiceObsError as exc:
        conn.send(("error", _portable(exc)))
    except BaseException as exc:  # reported as this share's calls lost, with the reason
        conn.send(("crash", f"{type(exc).__name__}: {exc}"))
    else:
        conn.send(("results", results))
    finally:
        conn.close()


def _portable(exc: VoiceObsError) -> VoiceObsError:
    """The error as the parent can unpickle it (a subclass with its own ``__init__`` may not)."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        plain = VoiceObsError(str(exc))
        plain.exit_code = exc.exit_code
        return plain
    return exc


def lost_results(
    spec: ProbeSpec, indices: Sequence[int], detail: str, started_at: datetime | None = None
) -> list[RunResult]:
    """A failed ``worker_lost`` result for each call a dead worker held, turns and all.

    ``started_at`` is when the run began (the calls' own start times died with the worker).
    """
    now = utcnow()
    began = started_at or now
    out = []
    for _ in indices:
        result = RunResult(
            probe_name=spec.name,
            target_url=spec.target,
            started_at=began,
            region=spec.region,
            pipeline=spec.pipeline,
            protocol=spec.protocol,
            labels=dict(spec.labels),
            probe_host=socket.gethostname(),
            voiceobs_version=__version__,
            source="synthetic",
            framework="voiceobs",
            status="failed",
            failure_class=FailureClass.WORKER_LOST.value,
            failure_detail=detail,
        )
        for i, planned in enumerate(planned_turns(spec)):
            turn = TurnResult(
                turn_index=i,
                started_at=began,
                expected_text=planned.expect.text,
                intent=planned.expect.intent,
                kind=planned.kind,
                ok=False,
                failure_class=FailureClass.WORKER_LOST.value,
            )
            if planned.caller is not None:
                turn.caller = dict(planned.caller.describe())
                turn.snr_db = planned.caller.snr_db
            result.turns.append(turn)
        result.finished_at = now
        out.append(result)
    return out


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "did not exit"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def run_spec_workers(
    spec: ProbeSpec,
    workers: int,
    *,
    concurrency: int | None = None,
    progress: Progress | None = None,
    started: Callable[[list[int]], None] | None = None,
) -> list[RunResult]:
    """Place the spec's calls over ``workers`` processes; raw results in spec order, one per call.

    Like ``run_spec_async``, nothing is recorded here. ``started`` is told the
    workers' pids once they run (for progress displays and tests). A
    ``VoiceObsError`` the workers raised (a prompt that cannot be rendered,
    say) is raised here once every worker has ended, unless some worker did
    return its calls: those are kept, and the failed worker's calls become
    ``worker_lost`` results that say why.
    """
    spec = spec.with_concurrency(concurrency)
    points = spec.sweep_points()
    total = spec.total_calls
    whole = total * len(points)
    context = multiprocessing.get_context("spawn")
    procs: list[Any] = []
    pending: dict[Connection, int] = {}
    shares = [Share(w, workers) for w in range(workers)]
    received: dict[int, list[RunResult]] = {}
    lost: dict[int, str] = {}
    errors: list[VoiceObsError] = []
    done = 0
    began = utcnow()
    finished = False
    try:
        for share in shares:
            reader, writer = context.Pipe(duplex=False)
            proc = context.Process(
                target=_worker,
                args=(writer, spec, share, progress is not None),
                name=f"voiceobs-probe-worker-{share.index}",
            )
            proc.start()
            writer.close()  # the child holds the only write end: its exit is EOF here
            procs.append(proc)
            pending[reader] = share.index
        if started is not None:
            started([p.pid for p in procs])
        while pending:
            for conn in wait(list(pending)):
                assert isinstance(conn, Connection)
                w = pending[conn]
                try:
                    kind, payload = conn.recv()
                except (EOFError, OSError):
                    procs[w].join(10)
                    lost[w] = (
                        f"probe worker {w + 1} of {workers} (pid {procs[w].pid}) "
                        f"{_describe_exit(procs[w].exitcode)} before returning its calls"
                    )
                    kind, payload = "gone", None
                if kind == "progress":
                    done += 1
                    if progress is not None:
                        progress(done, whole, bool(payload))
                    continue
                if kind == "results":
                    received[w] = payload
                elif kind == "error":
                    errors.append(payload)
                    lost[w] = f"probe worker {w + 1} of {workers} failed: {payload}"
                elif kind == "crash":
                    lost[w] = f"probe worker {w + 1} of {workers} crashed: {payload}"
                del pending[conn]
                conn.close()
        finished = True
    finally:
        for proc in procs:
            if finished:
                proc.join(10)  # it has sent everything: only its exit is left
            if proc.is_alive():  # interrupted: never leave a worker behind
                proc.terminate()
                proc.join(5)
    if errors and not received:
        raise errors[0]  # every worker refused the spec (a prompt that cannot be rendered, say)
    out: list[RunResult] = []
    for p, point in enumerate(points):
        per_worker = []
        for share in shares:
            calls = share.calls(total)
            if share.index in received:
                got = received[share.index]
                per_worker.append(got[p * len(calls) : (p + 1) * len(calls)])
            else:
                per_worker.append(lost_results(point, calls, lost[share.index], began))
        out.extend(per_worker[i % workers][i // workers] for i in range(total))
    return out


__all__ = [
    "HIGH_CONCURRENCY",
    "concurrent_calls",
    "cores",
    "lost_results",
    "resolve_workers",
    "run_spec_workers",
]
