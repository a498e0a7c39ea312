"""The store-down buffer: runs (and span batches) that could not be saved wait here as JSON files.

A probe's result is the one thing that must not be lost when the database is
down: the outage it would show is exactly what the SLO needs to see. Each run
is written to its own file atomically (temporary file, fsync, rename), so a
crash leaves either a whole file or none, and the next run replays them.
Replay is safe to repeat because ``Store.save_run`` ignores a run id it
already holds.

The collector's spans wait beside them in ``spans/`` (:class:`SpanSpool`),
one batch per file, bounded in bytes, replayed through the idempotent bulk
write.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import logging
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from voiceobs.config import Settings, data_dir
from voiceobs.errors import StoreError, StoreFull
from voiceobs.results import RunResult, SpanRecord
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
        name = f"{run.started_at.strftime('%Y%m%dT%H%M%S')}-{run.id}.json"
        data = json.dumps(run.to_json(), separators=(",", ":"), default=str)
        return _atomic_write(self.directory, name, data.encode("utf-8"), "a run")

    @property
    def spans(self) -> SpanSpool:
        """The span batches spooled beside these runs (``<spool>/spans``)."""
        return SpanSpool(self.directory / "spans")

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


def _atomic_write(directory: Path, name: str, data: bytes, what: str) -> Path:
    """Write ``data`` to ``directory/name`` so that a crash leaves the whole file or none.

    Temporary file, fsync, rename, then fsync of the directory: the rename
    is what makes the file appear, and only once its bytes are on disk.
    """
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / name
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        with contextlib.suppress(OSError):
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if exc.errno == errno.ENOSPC:
            raise StoreFull(f"no space left to spool {what} under {directory}; free disk") from None
        raise
    return final


class SpanSpool:
    """Span batches waiting for the store, one file per batch, oldest replayed first.

    The collector keeps spans as they arrive (a call's waterfall is there at
    once), so during an outage whole batches wait here, written atomically
    like runs. ``max_bytes`` bounds the directory: past it a write raises
    ``StoreFull`` and the collector answers 503 instead of filling the disk.
    Replay goes through ``Store.save_spans_bulk``, idempotent on (trace id,
    span id), so a batch replayed twice (a crash between save and unlink)
    stores its spans once.
    """

    def __init__(self, directory: Path | None = None, max_bytes: int | None = None) -> None:
        self.directory = Path(directory) if directory is not None else spool_dir() / "spans"
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._bytes: int | None = None
        # The size of the last batch refused for want of room: until that much is free, the
        # spool is not writable (a tiny probe file would fit where a batch does not).
        self._refused = 0

    def size_bytes(self) -> int:
        """Bytes spooled now (counted once from the directory, then kept up to date)."""
        with self._lock:
            if self._bytes is None:
                total = 0
                for path in self.pending():
                    with contextlib.suppress(OSError):
                        total += path.stat().st_size
                self._bytes = total
            return self._bytes

    def write(self, spans: Sequence[SpanRecord]) -> Path:
        """Spool one batch atomically; ``StoreFull`` when over ``max_bytes`` or the disk is full.

        Every failure is a one-line ``StoreError`` so the caller can count
        the batch as lost, by reason, instead of raising into its loop.
        """
        data = orjson.dumps(
            {"version": 1, "spans": [dataclasses.asdict(x) for x in spans]},
            default=str,
            option=orjson.OPT_NON_STR_KEYS,
        )
        if self.max_bytes is not None and self.size_bytes() + len(data) > self.max_bytes:
            self._refused = len(data)
            raise StoreFull(
                f"the span spool under {self.directory} is at its limit of {self.max_bytes} bytes"
            )
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}.json"
        try:
            path = _atomic_write(self.directory, name, data, "spans")
        except StoreError:
            raise
        except OSError as exc:
            raise StoreError(
                f"cannot spool spans under {self.directory}: {exc.strerror or exc}; "
                "make the data directory writable (VOICEOBS_DATA_DIR)"
            ) from None
        with self._lock:
            if self._bytes is not None:
                self._bytes += len(data)
            self._refused = 0
        return path

    def writable(self) -> bool:
        """Whether a batch could be spooled now: room under ``max_bytes``, and the directory takes a file."""
        if (
            self.max_bytes is not None
            and self.size_bytes() + max(1, self._refused) > self.max_bytes
        ):
            return False
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-probe-", dir=self.directory)
            os.close(fd)
            os.unlink(tmp)
        except OSError:
            return False
        return True

    def pending(self) -> list[Path]:
        """Spooled batches, oldest first (names start with the time they were written)."""
        try:
            return sorted(
                p for p in self.directory.glob("*.json") if not p.name.startswith(".tmp-")
            )
        except OSError:
            return []

    def depth(self) -> int:
        """How many batches wait."""
        return len(self.pending())

    def replay(
        self, save: Callable[[list[SpanRecord]], int], limit: int | None = None
    ) -> tuple[int, int]:
        """Save spooled batches with ``save`` (``Store.save_spans_bulk``): (batches, spans).

        At most ``limit`` batches (all by default), so a long backlog can be
        worked off between new batches. Stops at the first store error (the
        store is still down: keep the rest). A file that cannot be read is moved to ``bad/``, counted in
        the log, so it never blocks the ones behind it.
        """
        batches = spans = 0
        pending = self.pending()
        for path in pending if limit is None else pending[:limit]:
            try:
                doc = orjson.loads(path.read_bytes())
                records = [SpanRecord(**x) for x in doc["spans"]]
            except (OSError, ValueError, TypeError, KeyError) as exc:
                log.warning(
                    "spooled span batch %s is unreadable (%s); moved to bad/",
                    path.name,
                    type(exc).__name__,
                )
                bad = self.directory / "bad"
                with contextlib.suppress(OSError):
                    bad.mkdir(exist_ok=True)
                    size = path.stat().st_size
                    os.replace(path, bad / path.name)
                    self._forget(size)
                continue
            try:
                save(records)
            except StoreError:
                break
            try:
                size = path.stat().st_size
                path.unlink()
                self._forget(size)
            except FileNotFoundError:
                pass
            batches += 1
            spans += len(records)
        return batches, spans

    def _forget(self, size: int) -> None:
        with self._lock:
            if self._bytes is not None:
                self._bytes = max(0, self._bytes - size)


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
    on_saved: Callable[[Store, Sequence[RunResult]], None] | None = None,
    replace: bool = False,
) -> SaveReport:
    """Save results to the store, replaying the spool first; spool what the store cannot take.

    Never raises for a store that is down: losing a result during an outage
    would hide the outage. A result that neither the store nor the spool can
    take is returned in ``lost`` (with the reasons in ``errors``) for the
    caller to print, so it is never silently gone. ``on_saved`` is called
    with the store and the results it took (to join them with what is
    stored). ``replace`` rewrites a stored call of the same id (a production
    call that grew) instead of keeping the first version. Many results are
    written in one transaction (``Store.save_runs``, or ``Store.replace_runs``
    with ``replace``), one by one if that fails.
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
                    on_saved(open_store, [run])
                return saved

            report.replayed = spool.replay(replay_one)
            if report.replayed:
                log.info("replayed %d spooled run(s)", report.replayed)
            if len(pending) > 1:
                try:
                    if replace:
                        store.replace_runs(pending)
                        new = len(pending)
                    else:
                        new = store.save_runs(pending)
                except StoreError as exc:  # one call at a time below says which one, and spools
                    log.info("batch of %d call(s) not written at once (%s)", len(pending), exc)
                else:
                    report.saved += new
                    report.duplicates += len({r.id for r in pending}) - new if not replace else 0
                    if on_saved is not None:
                        on_saved(store, pending)
                    pending = []
            while pending:
                run = pending[0]
                try:
                    if _save(store, run, replace=replace):
                        report.saved += 1
                        if on_saved is not None:
                            on_saved(store, [run])
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


__all__ = ["SaveReport", "SpanSpool", "Spool", "save_or_spool", "spool_dir"]
