"""Helpers for tests that run long-running commands as real processes and signal them."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # state, ppid, pgrp, session, ...


def alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def in_session(sid: int) -> list[int]:
    """Every live process of session ``sid`` except its leader: what a command started."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != sid:
            fields = _stat(int(entry))
            if fields is not None and fields[0] != "Z" and int(fields[3]) == sid:
                pids.append(int(entry))
    return sorted(pids)


def cmdline(pid: int) -> str:
    """What ``ps`` shows as the command line of ``pid`` (empty once it has gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def every_cmdline() -> dict[int, str]:
    """The command line of every process on the host, as any user can read them."""
    return {int(e): cmdline(int(e)) for e in os.listdir("/proc") if e.isdigit()}


def environ(pid: int) -> dict[str, str]:
    """The environment ``pid`` was started with (readable by its owner only)."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    return dict(item.decode(errors="replace").partition("=")[::2] for item in raw.split(b"\0") if item)


def wait_gone(pids: list[int], deadline_s: float) -> list[int]:
    """Poll until every pid has exited; returns those still alive at the deadline."""
    end = time.monotonic() + deadline_s
    left = [p for p in pids if alive(p)]
    while left and time.monotonic() < end:
        time.sleep(0.1)
        left = [p for p in left if alive(p)]
    return left


def wait_http(url: str, proc: subprocess.Popen[bytes], deadline_s: float = 120.0) -> None:
    """Poll ``url`` until it answers 200; fail at once if ``proc`` exits first."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        assert proc.poll() is None, f"exited with {proc.returncode} before {url} answered"
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {deadline_s:g} s")


@contextlib.contextmanager
def command(*args: str, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """``voiceobs ARGS`` in its own session; whatever is left of it is killed afterwards."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "voiceobs.cli.main", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        for pid in [proc.pid, *in_session(proc.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.communicate(timeout=10)
