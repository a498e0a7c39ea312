"""Dashboard sign-in with throttling: exponential backoff per user name and per client.

Without it a password can be guessed as fast as scrypt verifies (about five
guesses a second per session, more with parallel sessions). Here each user
name and each client address counts its consecutive failed sign-ins; from
the ``free_failures``-th on, every failure locks that name or client for
``base_s * 2**k`` seconds (capped at ``max_s``). While either is locked an
attempt is refused without looking at the password, so even the right one
does not get in until the lock has passed, and the refusal says when to
retry. A success clears both counters; failures are forgotten ``forget_s``
after the last one.

The counters live in a small SQLite file under the data directory
(``signin-throttle.db``), not in the session or the process: every Streamlit
session, and every dashboard process on the host that shares the data
directory, sees the same counts. SQLite's own locking makes the
check-and-count of an attempt one atomic step across processes (an attempt
is counted as a failure before its password is checked, and cleared if it
was right), so a burst of parallel attempts cannot slip past the check
together. Names and addresses are stored only as SHA-256 digests. If the
file cannot be opened (a read-only data dir), the counters fall back to
this process's memory, with a warning, so sign-in still works and sessions
of this server are still throttled together.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from voiceobs.config import data_dir
from voiceobs.users import User, authenticate

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The wall clock (a module attribute, so a test can move time for a whole app).
_wall = time.time

_SCHEMA = """
CREATE TABLE IF NOT EXISTS signin_failures (
    key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    last_failure REAL NOT NULL,
    locked_until REAL NOT NULL
)
"""


@dataclass(frozen=True)
class ThrottlePolicy:
    """How quickly repeated failures lock a name or client, and for how long."""

    #: Consecutive failures allowed before the first lock (typos happen).
    free_failures: int = 3
    #: The first lock, in seconds; each further failure doubles it.
    base_s: float = 2.0
    #: The longest lock, in seconds.
    max_s: float = 900.0
    #: Failures are forgotten this long after the last one.
    forget_s: float = 3600.0

    def lock_for(self, failures: int) -> float:
        """Seconds a name or client is locked after its ``failures``-th consecutive failure."""
        if failures < self.free_failures:
            return 0.0
        return min(self.max_s, self.base_s * 2.0 ** min(failures - self.free_failures, 64))


def throttle_file() -> Path:
    """Where the sign-in counters are kept: shared by every dashboard using this data dir."""
    return data_dir() / "signin-throttle.db"


def _digest(kind: str, value: str) -> str:
    return f"{kind}:{hashlib.sha256(value.encode('utf-8')).hexdigest()}"


class SignInThrottle:
    """Failed sign-in counters shared across sessions and processes (see the module doc)."""

    _memory: sqlite3.Connection | None = None
    _memory_lock = threading.Lock()

    def __init__(
        self,
        path: Path | None = None,
        policy: ThrottlePolicy | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """``path`` defaults to ``throttle_file()``; ``clock`` (wall seconds) is for tests."""
        self.path = path or throttle_file()
        self.policy = policy or ThrottlePolicy()
        self._clock = clock

    def now(self) -> float:
        """Wall-clock seconds: locks are compared across processes, so not a monotonic clock."""
        return self._clock() if self._clock is not None else _wall()

    def _run(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``op`` in one write transaction on the file (or, if it cannot be used, in memory)."""
        try:
            return self._on_file(op)
        except (OSError, sqlite3.Error) as exc:
            return self._on_memory(op, exc)

    def _on_file(self, op: Callable[[sqlite3.Connection], T]) -> T:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not self.path.exists()
        conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        try:
            if fresh:  # digests only, but nobody else's business
                with contextlib.suppress(OSError):
                    os.chmod(self.path, 0o600)
            conn.execute("BEGIN IMMEDIATE")  # one writer at a time, across processes
            try:
                conn.execute(_SCHEMA)
                value = op(conn)
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            return value
        finally:
            conn.close()

    def _on_memory(self, op: Callable[[sqlite3.Connection], T], exc: BaseException) -> T:
        cls = type(self)
        with cls._memory_lock:
            if cls._memory is None:
                log.warning(
                    "cannot keep sign-in counters in %s (%s); keeping them in this process only",
                    self.path,
                    exc,
                )
                cls._memory = sqlite3.connect(
                    ":memory:", check_same_thread=False, isolation_level=None
                )
                cls._memory.execute(_SCHEMA)
            conn = cls._memory
            conn.execute("BEGIN")
            try:
                value = op(conn)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return value

    def begin_attempt(self, keys: list[str]) -> float:
        """Count an attempt as failed unless a key is locked; returns seconds left on a lock (0: go on).

        Counting before the password is checked is what makes a burst of
        parallel attempts safe: each one sees the ones before it.
        """
        now, policy = self.now(), self.policy

        def op(conn: sqlite3.Connection) -> float:
            rows = {key: (failures, last, locked) for key, failures, last, locked in _select(conn, keys)}
            wait = max((locked - now for _, _, locked in rows.values()), default=0.0)
            if wait > 0:
                return wait
            for key in keys:
                failures, last, _ = rows.get(key, (0, now, 0.0))
                if now - last > policy.forget_s:
                    failures = 0
                failures += 1
                lock = policy.lock_for(failures)
                conn.execute(
                    "INSERT INTO signin_failures (key, failures, last_failure, locked_until) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
                    "failures = excluded.failures, last_failure = excluded.last_failure, "
                    "locked_until = excluded.locked_until",
                    (key, failures, now, now + lock if lock else 0.0),
                )
            conn.execute(
                "DELETE FROM signin_failures WHERE last_failure < ? AND locked_until < ?",
                (now - policy.forget_s, now),
            )
            return 0.0

        return self._run(op)

    def succeeded(self, keys: list[str]) -> None:
        """The attempt was right: its name and client start again from zero."""

        def op(conn: sqlite3.Connection) -> None:
            conn.executemany("DELETE FROM signin_failures WHERE key = ?", [(k,) for k in keys])

        self._run(op)

    def locked_for(self, keys: list[str]) -> float:
        """Seconds until every key may try again (0 when none is locked)."""
        now = self.now()
        rows = self._run(lambda conn: _select(conn, keys))
        return max((locked - now for _, _, _, locked in rows), default=0.0) if rows else 0.0


def _select(conn: sqlite3.Connection, keys: list[str]) -> list[tuple[str, int, float, float]]:
    marks = ",".join("?" * len(keys))
    query = f"SELECT key, failures, last_failure, locked_until FROM signin_failures WHERE key IN ({marks})"
    return list(conn.execute(query, keys))


@dataclass(frozen=True)
class SignInResult:
    """What a sign-in attempt came to, and what to tell the person."""

    user: User | None
    #: The attempt was refused unchecked because the name or client is locked.
    refused: bool = False
    #: Seconds until the next attempt is allowed (0: at once).
    retry_after_s: float = 0.0
    #: Wall-clock time of the next allowed attempt.
    retry_at: datetime | None = None

    def message(self) -> str:
        """The one line the sign-in form shows for a failed or refused attempt."""
        if self.user is not None:
            return ""
        wait = ""
        if self.retry_at is not None:
            when = self.retry_at.strftime("%H:%M:%S UTC")
            wait = f"try again in {math.ceil(self.retry_after_s)} s (at {when})"
        if self.refused:
            return f"Too many failed sign-ins for this user or from this address; {wait}."
        if wait:
            return f"Wrong user name or password. Too many failures: {wait}."
        return "Wrong user name or password."


def sign_in(
    users: Mapping[str, User],
    name: str,
    password: str,
    client: str,
    *,
    throttle: SignInThrottle | None = None,
) -> SignInResult:
    """Check a name and password, throttled per name and per client (``client``: its address)."""
    throttle = throttle or SignInThrottle()
    keys = [_digest("user", name.strip().casefold()), _digest("client", client)]

    def result(user: User | None, refused: bool, wait: float) -> SignInResult:
        at = datetime.fromtimestamp(throttle.now() + wait, UTC) if wait > 0 else None
        return SignInResult(user, refused, max(0.0, wait), at)

    wait = throttle.begin_attempt(keys)
    if wait > 0:
        return result(None, True, wait)
    user = authenticate(users, name, password)
    if user is not None:
        throttle.succeeded(keys)
        return result(user, False, 0.0)
    return result(None, False, throttle.locked_for(keys))


__all__ = ["SignInResult", "SignInThrottle", "ThrottlePolicy", "sign_in", "throttle_file"]
