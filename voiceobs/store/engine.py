"""Database engines for the store: SQLite tuned for concurrent writers, PostgreSQL as is.

SQLite is the embedded default, so it must survive a cron probe, an
evaluator and the dashboard touching one file at once: WAL lets readers run
beside the writer, and a busy timeout makes a second writer wait instead of
failing with "database is locked".
"""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError

from voiceobs.errors import ConfigError, StoreError, StoreFull, StoreUnavailable

#: How long a SQLite writer waits for the lock before giving up.
SQLITE_BUSY_TIMEOUT_MS = 30_000


def redact_url(url: str) -> str:
    """The URL with any password hidden, safe to print and log."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy, not pysqlite, decide where transactions begin (the
    # documented recipe), so DDL and savepoints are transactional too.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    # A new (empty) file is made in incremental auto-vacuum mode, so retention can give freed
    # pages back a step at a time; it must be set before WAL and before any table. Only then:
    # on a file in use, setting it waits for the write lock. An older file keeps its mode
    # until `voiceobs db prune --vacuum` rewrites it.
    cur.execute("PRAGMA page_count")
    if cur.fetchone()[0] == 0:
        cur.execute("PRAGMA auto_vacuum=INCREMENTAL")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # Writers in the repository write first and never read-then-write, so a
    # deferred BEGIN waits on the busy timeout instead of failing on a stale snapshot.
    conn.exec_driver_sql("BEGIN")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url``; raise a one-line ``VoiceObsError`` when it cannot be used.

    For a SQLite file the parent directory is created, so the default store
    works on a fresh machine with no set-up.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            f"invalid database URL {url!r}; expected e.g. sqlite:///path/voiceobs.db "
            "or postgresql+psycopg://user@host:5432/db"
        ) from exc
    backend = parsed.get_backend_name()
    if backend == "postgresql" and parsed.drivername == "postgresql":
        # psycopg 3 is the driver we ship; plain postgresql:// would ask for psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        db = parsed.database
        if db and db != ":memory:" and not db.startswith("file:"):
            path = Path(db).expanduser()
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    raise StoreFull(f"no space left to create {path.parent}") from exc
                raise StoreUnavailable(
                    f"cannot create the store directory {path.parent}: {exc.strerror}; "
                    "set --db or VOICEOBS_DB_URL to a writable place"
                ) from exc
            parsed = parsed.set(database=str(path))
        kwargs.setdefault("connect_args", {}).setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
    elif backend == "postgresql":
        kwargs.setdefault("pool_pre_ping", True)
        kwargs.setdefault("connect_args", {}).setdefault("connect_timeout", 10)
    try:
        engine = create_engine(parsed, **kwargs)
    except (NoSuchModuleError, ArgumentError, ImportError) as exc:
        raise ConfigError(
            f"unsupported database URL {redact_url(url)!r} ({exc}); "
            "use sqlite:///... or postgresql+psycopg://..."
        ) from exc
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def translate_db_error(exc: SQLAlchemyError, url: str) -> StoreError:
    """Turn a driver error into a one-line StoreError that says what to do."""
    text = str(getattr(exc, "orig", exc) or exc).strip().splitlines()[0]
    lowered = text.lower()
    if (
        "no space left" in lowered
        or "disk is full" in lowered
        or "database or disk is full" in lowered
    ):
        return StoreFull(f"the disk under {redact_url(url)} is full; free space and run again")
    if isinstance(exc, OperationalError):
        return StoreUnavailable(
            f"cannot use the store at {redact_url(url)}: {text}; check --db / VOICEOBS_DB_URL "
            "and that the database is running"
        )
    return StoreError(f"store error at {redact_url(url)}: {text}")


__all__ = ["SQLITE_BUSY_TIMEOUT_MS", "make_engine", "redact_url", "translate_db_error"]
