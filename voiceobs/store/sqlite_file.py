"""Noticing that the SQLite file a long-running command has open was removed or replaced.

SQLite goes on reading and writing a file it has open after its path is
unlinked, or after another file is moved onto that path: nothing fails, and
everything written lands in a file nobody can open again (``voiceobs watch``
resolved incidents that never reached the real store this way). A command
that runs for days compares, before each unit of work, the device and inode
behind the path with those of the file it opened.

Reopening needs care: SQLite finds a file's write-ahead log by name
(``<file>-wal``), and the log the old file left there is still the old
file's. Opened beside the new file, it would lay the old pages over the new
ones. So the guard refuses any new connection while the path names another
file, and before letting go of the old file it folds that log into it and
truncates it to nothing (a ``TRUNCATE`` checkpoint through a connection that
still has the old file open).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from voiceobs.errors import StoreUnavailable
from voiceobs.store.repository import Store

Change = Literal["same", "removed", "replaced"]


@dataclass(frozen=True)
class FileIdentity:
    """Which file a path names: the same (device, inode) is the same file."""

    device: int
    inode: int


def _identity(path: Path) -> FileIdentity | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return FileIdentity(st.st_dev, st.st_ino)


def sqlite_file(store: Store) -> Path | None:
    """The file behind a SQLite store; None for PostgreSQL and in-memory databases."""
    url = make_url(store.url)
    db = url.database
    if url.get_backend_name() != "sqlite" or not db or db == ":memory:" or db.startswith("file:"):
        return None
    return Path(db).expanduser().resolve()


class SqliteFileGuard:
    """Remembers the file a store opened and says when its path no longer leads there."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.identity = _identity(path)

    @classmethod
    def for_store(cls, store: Store) -> SqliteFileGuard | None:
        """A guard for a SQLite file store (opened already), None for any other store."""
        path = sqlite_file(store)
        return cls(path) if path is not None else None

    def check(self) -> Change:
        """``same``, ``removed`` (nothing at the path now) or ``replaced`` (another file is)."""
        now = _identity(self.path)
        if now is None:
            return "removed"
        return "same" if now == self.identity else "replaced"

    def reset(self) -> None:
        """Take the file now at the path as the one in use (after reopening the store)."""
        self.identity = _identity(self.path)

    def attach(self, engine: Engine) -> None:
        """Make ``engine`` refuse to connect while the path names another file (or none).

        Without this a new pooled connection would open (or create) whatever
        is at the path now, beside the old file's write-ahead log.
        """

        def refuse_other_file(*_args: object) -> None:
            change = self.check()
            if change != "same":
                raise StoreUnavailable(
                    f"the SQLite store {self.path} was {change} while in use; not connecting"
                )

        event.listen(engine, "do_connect", refuse_other_file)

    def let_go(self, store: Store) -> bool:
        """Close ``store`` after emptying the old file's write-ahead log; False if that failed.

        False means the log at ``<file>-wal`` may still hold the old file's
        pages (another process has the old file open and kept the checkpoint
        from finishing, or no connection to the old file was left), so the
        file now at the path must not be opened by this process.
        """
        emptied = False
        try:
            # An idle pooled connection still has the old file open; a new one is refused.
            with store.engine.connect() as conn:
                busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()[0]
            emptied = busy == 0
        except (SQLAlchemyError, StoreUnavailable):
            emptied = False
        finally:
            store.close()
        wal = self.path.with_name(self.path.name + "-wal")
        return emptied or not wal.exists() or wal.stat().st_size == 0


__all__ = ["Change", "FileIdentity", "SqliteFileGuard", "sqlite_file"]
