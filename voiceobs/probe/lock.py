"""One run of a spec at a time: a slow run must not overlap the next cron tick.

An ``fcntl`` lock on a file under the data directory is held for the whole
run. The kernel releases it when the process exits, however it exits, so a
crashed run never leaves a stale lock behind (a pid file would).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from voiceobs.config import data_dir
from voiceobs.errors import ConfigError, VoiceObsError


class RunLocked(VoiceObsError):
    """Another run of the same spec still holds the lock; this run placed no calls."""

    exit_code = 1


def lock_path(name: str, source: str = "") -> Path:
    """The lock file for a spec (by name and file, so two specs never share one)."""
    digest = hashlib.sha256(f"{name}|{os.path.abspath(source) if source else ''}".encode()).hexdigest()
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:60]
    return data_dir() / "locks" / f"{safe}-{digest[:12]}.lock"


@contextmanager
def spec_lock(name: str, source: str = "") -> Iterator[Path]:
    """Hold the spec's lock, or raise RunLocked at once (never wait: the next tick will run)."""
    path = lock_path(name, source)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ConfigError(
            f"cannot take the run lock {path}: {exc.strerror or exc}; "
            "make the data directory writable or point VOICEOBS_DATA_DIR elsewhere"
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise RunLocked(
                f"another run of probe {name!r} is still in progress (pid {holder}); "
                "this run was skipped — lengthen the schedule interval or shorten the spec's timeouts"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        try:
            yield path
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


__all__ = ["RunLocked", "lock_path", "spec_lock"]
