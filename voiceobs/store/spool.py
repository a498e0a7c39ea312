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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from voiceobs.config import Settings, data_dir
from voiceobs.errors import StoreError, StoreFull
from voiceobs.results import RunResult
from voiceobs.store.repository import Store

log = logging.getLogger(__name__)


def spool_dir() -> Path:
    """Where spooled runs live: ``<data dir>/spool``."""
    return data_dir() / "spool"


class Spool:
    """A directory of runs waiting for the store."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else spool_dir()

    def write(self, run: RunResult) -> Path:
        """Write one run atomically; StoreFull when the disk has no room, StoreError otherwise.

        Every way the write can fail (no room, no permission, a file where
        the spool directory should be) is a one-line ``StoreError``, so the
        caller can fall back to printing the run instead of losing it.
        """
        try:
            return self._write(run)
        except StoreError:
            raise
        except OSError as exc:
            raise StoreError(
                f"cannot spool a run under {self.directory}: {exc.strerror or exc}; "
                "make the data directory writable (VOICEOBS_DATA_DIR)"
            ) from None

    def _write(self, run: RunResult) -> Path:
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
        try:
            pending = self.pending()
        except OSError as exc:
            log.warning("cannot list the spool %s: %s", self.directory, exc.strerror or exc)
            return 0
        for path in pending:
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


def _save(store: Store, run: RunResult, *, replace: bool) -> bool:
    """Store one run; with ``replace`` a stored version is rewritten (and that counts as saved).

    A production call is spooled again each time it grows, so on replay the
    newest version must win over one stored before the outage.
    """
    if replace:
        store.replace_run(run)
        return True
    return store.save_run(run)


@dataclass
class SaveReport:
    """Where each result went: the store, the spool, or nowhere (``lost``, with why)."""

    saved: int = 0
    duplicates: int = 0
    spooled: int = 0
    replayed: int = 0
    lost: list[RunResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def save_or_spool(
    results: Sequence[RunResult],
    store: Store | None = None,
    *,
    db_url: str | None = None,
    spool: Spool | None = None,
    on_saved: Callable[[Store, RunResult], None] | None = None,
    replace: bool = False,
) -> SaveReport:
    """Save results to the store, replaying the spool first; spool what the store cannot take.

    Never raises for a store that is down: losing a result during an outage
    would hide the outage. A result that neither the store nor the spool can
    take is returned in ``lost`` (with the reasons in ``errors``) for the
    caller to print, so it is never silently gone. ``on_saved`` is called
    with the store for each result it took (to join it with what is stored).
    ``replace`` rewrites a stored call of the same id (a production call that
    grew) instead of keeping the first version.
    """
    spool = spool or Spool()
    report = SaveReport()
    own = store is None
    pending = list(results)
    if store is None:
        try:
            store = Store.open(Settings.load(db_url).db_url, create=True)
        except StoreError as exc:
            report.errors.append(str(exc))
            log.warning("store unavailable (%s); spooling %d run(s)", exc, len(pending))
    try:
        if store is not None:
            open_store = store

            def replay_one(run: RunResult) -> bool:
                saved = _save(open_store, run, replace=run.source == "production")
                if saved and on_saved is not None:
                    on_saved(open_store, run)
                return saved

            report.replayed = spool.replay(replay_one)
            if report.replayed:
                log.info("replayed %d spooled run(s)", report.replayed)
            while pending:
                run = pending[0]
                try:
                    if _save(store, run, replace=replace):
                        report.saved += 1
                        if on_saved is not None:
                            on_saved(store, run)
                    else:
                        report.duplicates += 1
                except StoreError as exc:
                    report.errors.append(str(exc))
                    log.warning("cannot save run %s (%s); spooling the rest", run.id, exc)
                    break
                pending.pop(0)
    finally:
        if own and store is not None:
            store.close()
    for run in pending:
        try:
            spool.write(run)
            report.spooled += 1
        except StoreError as exc:
            report.errors.append(str(exc))
            report.lost.append(run)
    return report


__all__ = ["SaveReport", "Spool", "save_or_spool", "spool_dir"]
