"""Run a command and report its peak RSS, measured from a small process.

    python tests/quality/peak_rss.py RESULT.json KILL_ABOVE_MB -- CMD...

Linux records the high-water RSS of the memory image a process replaces on
exec, so a child spawned straight from a large process (pytest with torch
loaded) reports at least its parent's size. This script is small when it
spawns CMD, so the figure ``wait4`` gives is CMD's own. It also kills CMD
if its RSS passes KILL_ABOVE_MB, so a broken bound cannot take the machine
down; RESULT.json gets ``{"code", "peak_mb", "killed"}``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def main() -> None:
    result, kill_above = Path(sys.argv[1]), float(sys.argv[2])
    cmd = sys.argv[sys.argv.index("--") + 1 :]
    proc = subprocess.Popen(cmd)
    done, killed = threading.Event(), threading.Event()

    def watch() -> None:
        while not done.wait(0.2):
            rss = _rss_mb(proc.pid)
            if rss is not None and rss > kill_above:
                killed.set()
                proc.kill()
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    _, status, usage = os.wait4(proc.pid, 0)
    done.set()
    watcher.join()
    code = os.waitstatus_to_exitcode(status)
    peak = usage.ru_maxrss / 1024  # kilobytes on Linux
    result.write_text(json.dumps({"code": code, "peak_mb": peak, "killed": killed.is_set()}))


if __name__ == "__main__":
    main()
