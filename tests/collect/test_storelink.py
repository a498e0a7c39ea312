"""The store handle: opened when it can be, retried at a pace while it is down."""

from __future__ import annotations

import time

from voiceobs.collect.storelink import StoreLink
from voiceobs.errors import StoreUnavailable

DOWN = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"


def test_a_down_store_is_retried_only_when_due(sqlite_url: str) -> None:
    link = StoreLink(DOWN, retry_s=0.3)
    assert link.get() is None and not link.up and "cannot use the store" in (link.last_error or "")
    start = time.monotonic()
    assert link.get() is None  # not due: no connect attempt
    assert time.monotonic() - start < 0.2
    assert not link.ping()  # a probe tries at once
    up = StoreLink(sqlite_url)
    store = up.get()
    assert store is not None and up.up and up.ping()
    up.mark_down(StoreUnavailable("gone"))
    assert not up.up and up.get() is None
    assert up.ping() and up.up  # the probe brings it back
    up.close()
