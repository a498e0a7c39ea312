"""The guard that notices a SQLite store's file being removed or replaced under an open store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.store.factories import make_run
from voiceobs.errors import StoreUnavailable
from voiceobs.store import Store
from voiceobs.store.sqlite_file import SqliteFileGuard, sqlite_file


def _store(path: Path, runs: int) -> Store:
    store = Store.open(f"sqlite:///{path}", create=True)
    for _ in range(runs):
        store.save_run(make_run(turns=1, with_spans=False))
    return store


def test_check_tells_same_removed_and_replaced(tmp_path: Path) -> None:
    store = _store(tmp_path / "a.db", 1)
    guard = SqliteFileGuard.for_store(store)
    assert guard is not None and guard.path == (tmp_path / "a.db").resolve()
    assert guard.check() == "same"
    _store(tmp_path / "b.db", 0).close()
    os.replace(tmp_path / "b.db", tmp_path / "a.db")
    assert guard.check() == "replaced"
    guard.reset()
    assert guard.check() == "same"
    (tmp_path / "a.db").unlink()
    assert guard.check() == "removed"
    store.close()


def test_only_a_sqlite_file_gets_a_guard(tmp_path: Path) -> None:
    memory = Store.open("sqlite://", create=True)
    assert sqlite_file(memory) is None and SqliteFileGuard.for_store(memory) is None
    memory.close()


def test_replaced_file_is_read_as_itself_after_letting_go_of_the_old_one(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    old = _store(path, 3)
    guard = SqliteFileGuard.for_store(old)
    assert guard is not None
    guard.attach(old.engine)
    _store(tmp_path / "restored.db", 5).close()
    os.replace(tmp_path / "restored.db", path)
    old.save_run(make_run(turns=1, with_spans=False))  # lands in the old file's log, by name
    assert Path(f"{path}-wal").stat().st_size > 0
    # A new connection of the old store would open the new file beside that log: refused.
    with old.engine.connect(), pytest.raises(StoreUnavailable, match="was replaced while in use"):
        old.engine.connect()
    assert guard.let_go(old) is True
    assert Path(f"{path}-wal").stat().st_size == 0
    reopened = Store.open(f"sqlite:///{path}")
    assert reopened.count_runs() == 5  # the new file's rows, nothing of the old one's log
    reopened.close()


def test_letting_go_without_a_connection_to_the_old_file_reports_it(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    old = _store(path, 1)
    guard = SqliteFileGuard.for_store(old)
    assert guard is not None
    guard.attach(old.engine)
    _store(tmp_path / "restored.db", 2).close()
    os.replace(tmp_path / "restored.db", path)
    old.save_run(make_run(turns=1, with_spans=False))
    old.engine.dispose()  # every connection to the old file closed; its log stays, full
    assert Path(f"{path}-wal").stat().st_size > 0
    assert guard.let_go(old) is False  # so the new file must not be opened beside it
