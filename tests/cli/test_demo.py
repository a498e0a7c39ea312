"""`voiceobs demo --quick` as a real process tree: signals stop every child; no token in `ps`.

The demo runs in its own session, so every process it starts (three `serve`
pipelines, the dashboard, whatever they start) is found by session id and
checked by PID after the signal.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import command, environ, every_cmdline, in_session, wait_gone

pytestmark = pytest.mark.slow

#: Three pipeline servers and the dashboard.
CHILDREN = 4


def _demo(work: Path) -> list[str]:
    return ["demo", "--quick", "--dir", str(work), "--dashboard-port", "0"]


def _wait_children(proc: subprocess.Popen[bytes], deadline_s: float = 60.0) -> list[int]:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
        kids = in_session(proc.pid)
        if len(kids) >= CHILDREN:
            return kids
        time.sleep(0.1)
    raise AssertionError(f"the demo started {len(in_session(proc.pid))} processes, not {CHILDREN}")


def _wait_line(proc: subprocess.Popen[bytes], needle: str, deadline_s: float = 240.0) -> None:
    assert proc.stdout is not None
    end = time.monotonic() + deadline_s
    for raw in proc.stdout:  # the demo flushes each line (PYTHONUNBUFFERED)
        if needle in raw.decode():
            return
        assert time.monotonic() < end, f"no {needle!r} within {deadline_s:g} s"
    raise AssertionError(f"the demo exited before printing {needle!r}")


def _tokens(work: Path, kids: list[int]) -> set[str]:
    """The servers' admin token wherever the demo put it: its token file, or their environment."""
    found = {environ(pid).get("VOICEOBS_ADMIN_TOKEN", "") for pid in kids}
    token_file = work / "admin-token"
    if token_file.exists():
        found.add(token_file.read_text().strip())
    return {t for t in found if t}


def test_sigterm_stops_every_process_and_no_token_is_on_a_command_line(tmp_path: Path) -> None:
    work = tmp_path / "demo"
    with command(*_demo(work), env={"PYTHONUNBUFFERED": "1"}) as proc:
        _wait_line(proc, "pipelines ready")  # mid-scenario: servers up, probes running
        kids = _wait_children(proc)
        tokens = _tokens(work, kids)
        assert tokens, "found no admin token to look for"
        shown = {pid: line for pid, line in every_cmdline().items() for t in tokens if t in line}
        assert shown == {}, f"the admin token is visible in ps: {shown}"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 143, err.decode()[-2000:]
        assert wait_gone(kids, 5.0) == [], "children outlived the demo"
    assert in_session(proc.pid) == []
    assert "stopped by SIGTERM; every process the demo started has exited" in out.decode()
    assert not (work / "admin-token").exists()


def test_sigint_while_pipelines_load_stops_everything_at_once(tmp_path: Path) -> None:
    with command(*_demo(tmp_path / "demo"), env={"PYTHONUNBUFFERED": "1"}) as proc:
        kids = _wait_children(proc)  # started, still loading their models
        proc.send_signal(signal.SIGINT)
        start = time.monotonic()
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - start
        assert proc.returncode == 130, err.decode()[-2000:]
        assert wait_gone(kids, 5.0) == []
    # Not held up by the readiness wait (up to 240 s): each child gets 10 s to stop, together.
    assert took < 30
    assert "stopped by SIGINT" in out.decode()


def test_children_die_with_a_killed_demo(tmp_path: Path) -> None:
    with command(*_demo(tmp_path / "demo")) as proc:
        kids = _wait_children(proc)
        os.kill(proc.pid, signal.SIGKILL)  # no handler runs: only the kernel can tell the children
        proc.wait(timeout=10)
        assert wait_gone(kids, 30.0) == []
