"""The store-down buffer: runs that could not be saved wait here as JSON files.

A probe's result is the one thing that must not be lost when the database is
down: the outage it would show is exactly what the SLO needs to see. Each run
is written to its own file atomically (temporary file, fsync, rename), so a
crash leaves either a whole file or none, and the next run replays them.
Replay is safe to repeat because ``Store.save_run`` ignores a run id it
already holds.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import tempfile
from pathlib import Path

from voiceobs.config import data_dir
from voiceobs.errors import StoreError, StoreFull
from voiceobs.results import RunResult

log = logging.getLogger(__name__)


def spool_dir() -> Path:
    """Where spooled runs live: ``<data dir>/spool``."""
    return data_dir() / "spool"


class Spool:
    """A directory of runs waiting for the store."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else spool_dir()

    def write(self, run: RunResult) -> Path:
        """Write one run atomically; StoreFull when the disk has no room."""
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.directory / f"{run.started_at.strftime('%Y%m%dT%H%M%S')}-{run.id}.json"
        data = json.dumps(run.to_json(), separators=(",", ":"), default=str)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=self.directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
            with contextlib.suppress(OSError):
                dir_fd = os.open(self.directory, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if exc.errno == errno.ENOSPC:
                raise StoreFull(f"no space left to spool a run under {self.directory}; free disk") from None
            raise
        return final

    def pending(self) -> list[Path]:
        """Spooled runs, oldest first (names start with the run's start time)."""
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.glob("*.json") if not p.name.startswith(".tmp-"))

    def replay(self, save: object) -> int:
        """Save every spooled run with ``save(run) -> bool`` (``Store.save_run``); returns how many.

        Stops at the first store error (the store is still down: keep the rest).
        A file that cannot be parsed is moved to ``bad/`` so it never blocks the queue.
        """
        assert callable(save)
        replayed = 0
        for path in self.pending():
            try:
                run = RunResult.from_json(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError, KeyError) as exc:
                log.warning("spooled run %s is unreadable (%s); moved to bad/", path.name, exc)
                bad = self.directory / "bad"
                bad.mkdir(exist_ok=True)
                with contextlib.suppress(OSError):
                    os.replace(path, bad / path.name)
                continue
            try:
                save(run)
            except StoreError:
                break
            path.unlink(missing_ok=True)
            replayed += 1
        return replayed


__all__ = ["Spool", "spool_dir"]
