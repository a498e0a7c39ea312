"""The store-down policy: save, else spool, else hand the result back; replay is idempotent."""

from __future__ import annotations

from pathlib import Path

import pytest

from voiceobs.errors import StoreError
from voiceobs.results import RunResult, TurnResult, utcnow
from voiceobs.store import Store
from voiceobs.store.spool import Spool, save_or_spool

DOWN = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"


def _run() -> RunResult:
    return RunResult(probe_name="p", target_url="ws://x", started_at=utcnow(), turns=[TurnResult(0, ttfb_ms=12.5)])


def test_spool_replay_is_idempotent(tmp_path: Path, sqlite_url: str) -> None:
    run = _run()
    spool = Spool(tmp_path / "spool")
    path = spool.write(run)
    assert path.exists() and not list((tmp_path / "spool").glob(".tmp-*"))
    (tmp_path / "spool" / "20000101T000000-garbage.json").write_text("{not json")
    store = Store.open(sqlite_url, create=True)
    try:
        store.save_run(run)  # already stored once (a crash after saving, before unlinking)
        assert spool.replay(store.save_run) == 1
        assert store.count_runs() == 1
        assert spool.pending() == []
        assert (tmp_path / "spool" / "bad" / "20000101T000000-garbage.json").exists()
    finally:
        store.close()


def test_save_or_spool_saves_counts_duplicates_and_replays_first(tmp_path: Path, sqlite_url: str) -> None:
    spool = Spool(tmp_path / "spool")
    waiting = _run()
    spool.write(waiting)
    fresh, again = _run(), _run()
    store = Store.open(sqlite_url, create=True)
    try:
        store.save_run(again)
        report = save_or_spool([fresh, again], store, spool=spool)
        assert (report.saved, report.duplicates, report.replayed, report.spooled) == (1, 1, 1, 0)
        assert report.lost == [] and spool.pending() == []
        assert store.count_runs() == 3
    finally:
        store.close()


def test_a_store_that_is_down_spools_everything(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    runs = [_run(), _run()]
    report = save_or_spool(runs, db_url=DOWN, spool=spool)
    assert (report.saved, report.spooled) == (0, 2) and report.lost == []
    assert report.errors and "cannot use the store" in report.errors[0]
    assert sorted(p.name.split("-", 1)[1] for p in spool.pending()) == sorted(f"{r.id}.json" for r in runs)


def test_neither_store_nor_spool_hands_the_results_back(tmp_path: Path) -> None:
    blocker = tmp_path / "spool"
    blocker.write_text("a file where the spool directory should be")
    runs = [_run()]
    report = save_or_spool(runs, db_url=DOWN, spool=Spool(blocker))
    assert report.lost == runs and report.spooled == 0
    assert any("cannot spool a run" in e for e in report.errors)


def test_spool_write_errors_are_store_errors(tmp_path: Path) -> None:
    blocker = tmp_path / "spool"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot spool a run"):
        Spool(blocker).write(_run())
