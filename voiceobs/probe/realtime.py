"""Real-time scheduling for the thread that paces calls, when the host allows it.

A probe's clock is only as good as the CPU it gets. Measured on a 2-core
host with the target and other jobs busy, 50 paced calls under the normal
scheduler showed a p99 send error of 12 ms (the thread waits behind other
runnable processes); the same run with the pacing thread at SCHED_RR showed
1.1 ms, and 100 calls 1.05 ms. Audio software solves the same problem the
same way.

Only the calling thread is raised, and with SCHED_RESET_ON_FORK, so the
scoring workers and any child process it starts run at normal priority; the
kernel's RT throttling still leaves other tasks their share. Without the
privilege (no root, no CAP_SYS_NICE, a container that forbids it) the probe
runs as before and says so in its results (``voiceobs.realtime`` on the span).
Set ``VOICEOBS_REALTIME=off`` to never ask.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from voiceobs.config import resolve

log = logging.getLogger(__name__)

#: A low RT priority: above every normal task, below the kernel's own RT threads.
RT_PRIORITY = 10
#: While calls are paced, another Python thread of the host (an exporter, a
#: web server) may hold the GIL for at most this long before it must hand it
#: over; Python's default, 5 ms, alone exceeds the pacing budget.
GIL_SWITCH_INTERVAL_S = 0.0005
_RESET_ON_FORK = getattr(os, "SCHED_RESET_ON_FORK", 0x40000000)

_lock = threading.Lock()
_holders: dict[int, tuple[int, int]] = {}  # thread id -> (depth, previous policy)
_switch_intervals: list[float] = []


def _wanted() -> bool:
    return str(resolve("realtime", None, "auto")).strip().lower() not in (
        "off",
        "0",
        "no",
        "false",
    )


@contextmanager
def realtime_scheduling() -> Iterator[bool]:
    """Run the block with this thread at SCHED_RR; yields whether that was granted.

    Re-entrant per thread (concurrent probe specs on one event loop share the
    raise), and the previous policy is restored when the outermost block ends.
    """
    if not _wanted() or not hasattr(os, "sched_setscheduler"):
        yield False
        return
    tid = threading.get_native_id()
    with _lock:
        depth, previous = _holders.get(tid, (0, -1))
        granted = depth > 0
        if depth == 0:
            try:
                previous = os.sched_getscheduler(0)
                os.sched_setscheduler(0, os.SCHED_RR | _RESET_ON_FORK, os.sched_param(RT_PRIORITY))
                granted = True
            except (PermissionError, OSError) as exc:
                log.info(
                    "real-time scheduling not granted (%s); pacing under the normal scheduler", exc
                )
                granted = False
        if granted:
            _holders[tid] = (depth + 1, previous)
            if depth == 0:
                _switch_intervals.append(sys.getswitchinterval())
                sys.setswitchinterval(min(GIL_SWITCH_INTERVAL_S, _switch_intervals[-1]))
    try:
        yield granted
    finally:
        if granted:
            with _lock:
                depth, previous = _holders.pop(tid)
                if depth > 1:
                    _holders[tid] = (depth - 1, previous)
                else:
                    sys.setswitchinterval(_switch_intervals.pop())
                    try:
                        os.sched_setscheduler(0, previous & ~_RESET_ON_FORK, os.sched_param(0))
                    except OSError as exc:  # never break the host over a priority
                        log.warning("could not restore the scheduling policy: %s", exc)


__all__ = ["RT_PRIORITY", "realtime_scheduling"]
