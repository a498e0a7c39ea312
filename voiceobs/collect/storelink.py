"""The collector's handle on the store: opened when it can be, and known to be up or down.

A collector must start, answer and keep spans while its database is away
(that is when the spool matters most), so the store is opened lazily and
retried at most every ``retry_s`` once it has failed: while it is down the
writer goes straight to the spool instead of waiting on a connect timeout
per batch.
"""

from __future__ import annotations

import logging
import threading
import time

from voiceobs.errors import StoreError
from voiceobs.store import Store

log = logging.getLogger(__name__)


class StoreLink:
    """A store given open or by URL, with its up/down state and a retry pace."""

    def __init__(self, store: Store | str, *, retry_s: float = 1.0) -> None:
        """``store`` is an open ``Store`` (kept open, caller closes) or a URL opened here."""
        self._store: Store | None = None if isinstance(store, str) else store
        self.url = store if isinstance(store, str) else store.url
        self._owned = isinstance(store, str)
        self.retry_s = retry_s
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._next_try = 0.0
        #: The last store error, one line (for logs and /readyz).
        self.last_error: str | None = None

    @property
    def up(self) -> bool:
        """True unless the last write or open failed."""
        return self._down_since is None

    @property
    def display_url(self) -> str:
        """The URL with its password hidden."""
        from voiceobs.store.engine import redact_url

        return redact_url(self.url)

    def get(self, *, force: bool = False) -> Store | None:
        """The store to write to now, or None while it is down and not yet due a retry.

        ``force`` tries it even before the retry is due (a health probe).
        """
        with self._lock:
            if not force and self._down_since is not None and time.monotonic() < self._next_try:
                return None
            if self._store is None:
                try:
                    self._store = Store.open(self.url, create=True)
                except StoreError as exc:
                    self._failed(exc)
                    return None
            return self._store

    def opened(self) -> Store | None:
        """The store if it was ever opened (for recording, which spools by itself)."""
        return self._store

    def mark_up(self) -> None:
        """A write succeeded."""
        with self._lock:
            if self._down_since is not None:
                log.warning(
                    "store at %s is back after %.1f s",
                    self.display_url,
                    time.monotonic() - self._down_since,
                )
            self._down_since = None
            self.last_error = None

    def mark_down(self, exc: StoreError) -> None:
        """A write failed: spool until ``retry_s`` has passed."""
        with self._lock:
            self._failed(exc)

    def _failed(self, exc: StoreError) -> None:
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
            log.warning("store unavailable, spooling: %s", exc)
        self.last_error = str(exc)
        self._next_try = now + self.retry_s

    def ping(self) -> bool:
        """Whether the store answers now (``SELECT 1``); updates the state either way."""
        store = self.get(force=True)
        if store is None:
            return False
        try:
            with store.session() as s:
                s.connection().exec_driver_sql("SELECT 1")
        except StoreError as exc:
            self.mark_down(exc)
            return False
        self.mark_up()
        return True

    def close(self) -> None:
        """Close the store if it was opened here."""
        if self._owned and self._store is not None:
            self._store.close()


__all__ = ["StoreLink"]
