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


# -- span batches --------------------------------------------------------------------------


def _span_batch(n: int) -> list:
    from voiceobs.results import SpanRecord

    trace = __import__("uuid").uuid4().hex
    return [SpanRecord(trace, f"{i + 1:016x}", "turn", 1, 2, attributes={"text": "[PHONE]"}) for i in range(n)]


def test_span_batches_spool_atomically_and_replay_in_order_once(tmp_path: Path, sqlite_url: str) -> None:
    spans = Spool(tmp_path / "spool").spans
    first, second = _span_batch(3), _span_batch(2)
    spans.write(first)
    spans.write(second)
    assert spans.depth() == 2 and not list(spans.directory.glob(".tmp-*"))
    assert spans.size_bytes() == sum(p.stat().st_size for p in spans.pending())
    (spans.directory / "99999999999999999999-garbage.json").write_text("{nope")
    store = Store.open(sqlite_url, create=True)
    try:
        store.save_spans_bulk(first)  # a crash after saving, before unlinking
        seen: list[int] = []

        def save(records: list) -> int:
            seen.append(len(records))
            return store.save_spans_bulk(records)

        assert spans.replay(save, limit=1) == (1, 3)
        assert spans.replay(save) == (1, 2)
        assert seen == [3, 2] and spans.depth() == 0 and spans.size_bytes() == 0
        assert (spans.directory / "bad" / "99999999999999999999-garbage.json").exists()
        with store.engine.connect() as c:
            assert c.exec_driver_sql("SELECT count(*) FROM spans").scalar() == 5
    finally:
        store.close()


def test_span_replay_stops_at_a_store_error_and_keeps_the_rest(tmp_path: Path) -> None:
    spans = Spool(tmp_path / "spool").spans
    spans.write(_span_batch(1))
    spans.write(_span_batch(1))

    def down(records: list) -> int:
        raise StoreError("down")

    assert spans.replay(down) == (0, 0)
    assert spans.depth() == 2


def test_the_span_spool_bound_refuses_with_store_full(tmp_path: Path) -> None:
    from voiceobs.errors import StoreFull
    from voiceobs.store.spool import SpanSpool

    spans = SpanSpool(tmp_path / "spans", max_bytes=800)
    spans.write(_span_batch(1))  # about 300 bytes
    assert spans.writable()
    with pytest.raises(StoreFull, match="at its limit of 800 bytes"):
        spans.write(_span_batch(2))  # about 560 more
    assert not spans.writable(), "a batch that did not fit keeps the spool unwritable until room is made"
    spans.replay(lambda records: len(records))
    assert spans.writable()


def test_span_spool_write_errors_are_store_errors(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot spool spans"):
        Spool(blocker).spans.write(_span_batch(1))
    assert not Spool(blocker).spans.writable()
