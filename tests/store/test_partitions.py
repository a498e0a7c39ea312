"""Turns and spans partitioned by day on PostgreSQL: migrated with every row, made ahead, dropped whole."""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, text

from tests.store.factories import make_run
from voiceobs.results import SpanRecord, utcnow
from voiceobs.store import Store, make_engine, migrations
from voiceobs.store.partitions import (
    PartitionSchedule,
    drop_partitions_before,
    ensure_partitions,
    expired_partitions,
    is_partitioned,
    list_partitions,
)
from voiceobs.store.retention import RetentionPolicy, prune

TABLES = ("probe_runs", "turns", "spans")


def _rows(engine: Engine, table: str) -> list[dict[str, Any]]:
    with engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(text(f"SELECT * FROM {table} ORDER BY id"))]


def _homes(engine: Engine, table: str) -> dict[int, str]:
    """Which partition each row of ``table`` sits in, by id."""
    q = f"SELECT id, tableoid::regclass::text FROM {table}"
    with engine.connect() as c:
        return {int(i): str(name) for i, name in c.execute(text(q))}


def _keys(engine: Engine, table: str) -> set[str]:
    q = "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = to_regclass(:t)"
    with engine.connect() as c:
        return {str(d) for d in c.execute(text(q), {"t": table}).scalars()}


def _day(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y%m%d}"


def _span_day(ns: int) -> str:
    return _day(datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000))


def _snapshot(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    return {t: _rows(engine, t) for t in TABLES}


def _max_ids(engine: Engine) -> dict[str, int]:
    return {t: max(r["id"] for r in _rows(engine, t)) for t in ("turns", "spans")}


def _store_calls(store: Store, times: list[datetime]) -> list[str]:
    ids = []
    for at in times:
        run = make_run(started_at=at)
        assert store.save_run(run)
        ids.append(run.id)
    return ids


def test_upgrade_from_0005_keeps_every_row_and_new_ids_grow_past_the_old(pg_url: str) -> None:
    engine = make_engine(pg_url)
    command.upgrade(migrations.alembic_config(engine), "0005")
    now = utcnow()
    old = Store(engine, pg_url)
    times = [now - timedelta(days=40), now - timedelta(days=3), now]
    _store_calls(old, times)
    assert old.save_spans_bulk([SpanRecord("c" * 32, "d" * 16, "late", 1_000, 2_000)]) == 1
    old.replace_run(make_run(started_at=now - timedelta(days=3, hours=1)))
    before = _snapshot(engine)
    assert not is_partitioned(old, "turns")

    migrations.upgrade(engine)

    store = Store.open(pg_url)
    assert is_partitioned(store, "turns") and is_partitioned(store, "spans")
    assert _snapshot(engine) == before  # every row, every value, every id
    # Each row is in its own day's partition; the default partitions are empty.
    for row in before["turns"]:
        assert _homes(engine, "turns")[row["id"]] == f"turns_p{_day(row['started_at'])}"
    for row in before["spans"]:
        assert _homes(engine, "spans")[row["id"]] == f"spans_p{_span_day(row['start_ns'])}"
    # The week ahead is there, so today's writers never reach the default partition.
    names = {p.name for p in list_partitions(store, "turns")}
    assert {f"turns_p{_day(now + timedelta(days=d))}" for d in range(8)} <= names
    assert "turns_default" in names
    # Keys hold the partition key; no foreign key makes each deleted call scan every day.
    assert _keys(engine, "turns") == {
        "PRIMARY KEY (id, started_at)",
        "UNIQUE (run_id, turn_index, started_at)",
    }
    assert _keys(engine, "spans") == {
        "PRIMARY KEY (id, start_ns)",
        "UNIQUE (trace_id, span_id, start_ns)",
    }
    # New rows get ids past every old one: the sequences moved with the tables.
    highest = _max_ids(engine)
    fresh = make_run(started_at=now)
    assert store.save_run(fresh)
    got = store.get_run(fresh.id)
    assert got is not None and min(t.id for t in got.turns) > highest["turns"]
    assert min(s.id for s in store.spans_for_run(fresh.id)) > highest["spans"]
    assert len(_rows(engine, "turns")) == len(before["turns"]) + len(fresh.turns)
    store.close()
    engine.dispose()


def test_0008_drops_the_partitioned_turns_key_to_calls_and_its_downgrade_restores_it(
    pg_url: str,
) -> None:
    """Without the key a deleted call scans no partition; prune deletes the turns itself."""
    engine = make_engine(pg_url)
    fk = "FOREIGN KEY (run_id) REFERENCES probe_runs(id) ON DELETE CASCADE"
    command.upgrade(migrations.alembic_config(engine), "0007")
    assert fk in _keys(engine, "turns")
    store = Store(engine, pg_url)
    now = utcnow()
    _store_calls(store, [now - timedelta(days=50), now - timedelta(days=49), now])
    command.upgrade(migrations.alembic_config(engine), "0008")
    assert fk not in _keys(engine, "turns")
    # The prune (today's code, so today's schema) still removes each expired call with its
    # turns, and nothing else.
    command.upgrade(migrations.alembic_config(engine), "head")
    assert fk not in _keys(engine, "turns")
    report = prune(store, RetentionPolicy(), now)
    assert report.removed["probe_runs"] == 2 and report.removed["turns"] == 4
    left = _rows(engine, "turns")
    assert len(left) == 2 and {r["run_id"] for r in left} == {
        r["id"] for r in _rows(engine, "probe_runs")
    }
    command.downgrade(migrations.alembic_config(engine), "0007")
    assert fk in _keys(engine, "turns")
    store.close()
    engine.dispose()


def test_downgrade_turns_them_back_into_plain_tables_with_every_row(pg_url: str) -> None:
    store = Store.open(pg_url, create=True)
    now = utcnow()
    _store_calls(store, [now - timedelta(days=2), now, datetime(2100, 1, 1, tzinfo=UTC)])
    engine = store.engine
    before = _snapshot(engine)
    highest = _max_ids(engine)
    command.downgrade(migrations.alembic_config(engine), "0005")
    assert not is_partitioned(store, "turns") and not is_partitioned(store, "spans")
    assert _snapshot(engine) == before
    assert _keys(engine, "turns") >= {"PRIMARY KEY (id)", "UNIQUE (run_id, turn_index)"}
    assert _keys(engine, "spans") == {"PRIMARY KEY (id)", "UNIQUE (trace_id, span_id)"}
    (fresh,) = _store_calls(store, [now])
    got = store.get_run(fresh)
    assert got is not None and min(t.id for t in got.turns) > highest["turns"]
    after_down = _snapshot(engine)
    migrations.upgrade(engine)
    assert _snapshot(engine) == after_down
    assert is_partitioned(store, "spans")
    store.close()


def test_ensure_partitions_makes_the_days_ahead_once(pg_url: str) -> None:
    store = Store.open(pg_url, create=True)
    at = datetime(2030, 1, 1, 23, 59, tzinfo=UTC)
    made = ensure_partitions(store, at, ahead=timedelta(days=2))
    days = ("20300101", "20300102", "20300103")
    assert sorted(made) == sorted([f"{t}_p{d}" for t in ("turns", "spans") for d in days])
    assert ensure_partitions(store, at, ahead=timedelta(days=2)) == []
    p = next(p for p in list_partitions(store, "spans") if p.name == "spans_p20300102")
    assert (p.lower, p.upper) == (
        datetime(2030, 1, 2, tzinfo=UTC),
        datetime(2030, 1, 3, tzinfo=UTC),
    )
    (run_id,) = _store_calls(store, [datetime(2030, 1, 2, 8, tzinfo=UTC)])
    got = store.get_run(run_id)
    assert got is not None
    assert {_homes(store.engine, "turns")[t.id] for t in got.turns} == {"turns_p20300102"}
    store.close()


def _racer(url: str, barrier: Any, out: Any) -> None:
    store = Store.open(url)
    made: list[str] = []
    try:
        for year in (2031, 2032, 2033):
            barrier.wait()
            made += ensure_partitions(store, datetime(year, 6, 1, tzinfo=UTC), timedelta(days=3))
        out.put(("ok", made))
    except Exception as exc:
        out.put(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        store.close()


def test_ensure_partitions_from_several_processes_at_once_makes_each_day_once(
    pg_url: str,
) -> None:
    Store.open(pg_url, create=True).close()
    barrier, out = mp.Barrier(4, timeout=30), mp.Queue()
    procs = [mp.Process(target=_racer, args=(pg_url, barrier, out)) for _ in range(4)]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    assert [r for r in results if r[0] != "ok"] == []
    made = [name for _, names in results for name in names]
    expected = {
        f"{t}_p{y}06{d:02d}"
        for t in ("turns", "spans")
        for y in (2031, 2032, 2033)
        for d in (1, 2, 3, 4)
    }
    assert sorted(made) == sorted(expected)  # each made exactly once, by one of the racers
    store = Store.open(pg_url)
    assert expected <= {p.name for t in ("turns", "spans") for p in list_partitions(store, t)}
    store.close()


def test_drop_partitions_before_removes_exactly_the_expired_days(pg_url: str) -> None:
    store = Store.open(pg_url, create=True)
    base = datetime(2031, 3, 1, 12, tzinfo=UTC)
    cutoff = base - timedelta(days=30)  # 2031-01-30 12:00
    gone = _store_calls(store, [base - timedelta(days=40), base - timedelta(days=31)])
    kept = _store_calls(store, [cutoff - timedelta(hours=6), cutoff + timedelta(hours=6), base])
    # No day partitions there yet: every one of these rows is in the default partition,
    # and making the days moves them into them, ids and values unchanged.
    before = _snapshot(store.engine)
    assert set(_homes(store.engine, "turns").values()) == {"turns_default"}
    ensure_partitions(store, base)
    assert _snapshot(store.engine) == before
    homes = _homes(store.engine, "turns")
    assert {homes[r["id"]] for r in before["turns"]} == {
        f"turns_p{_day(r['started_at'])}" for r in before["turns"]
    }
    # A row older than the cutoff that arrives later, for a day with no partition: default.
    (stray,) = _store_calls(store, [base - timedelta(days=50)])

    expired = {f"turns_p{_day(base - timedelta(days=d))}" for d in (40, 31)}
    counted = {p.name: p.rows for p in expired_partitions(store, "turns", cutoff) if p.rows}
    assert counted == dict.fromkeys(expired, 2)
    assert drop_partitions_before(store, "spans", cutoff, dry_run=True) == 4
    assert len(_rows(store.engine, "spans")) == len(before["spans"]) + 2  # nothing dropped
    assert drop_partitions_before(store, "turns", cutoff) == 4
    assert drop_partitions_before(store, "spans", cutoff) == 4
    assert drop_partitions_before(store, "turns", cutoff) == 0  # nothing left to drop

    def run_ids(table: str) -> set[str]:
        return {r["run_id"] for r in _rows(store.engine, table)}

    assert run_ids("turns") == {*kept, stray} and run_ids("spans") == {*kept, stray}
    left = {p.name for p in list_partitions(store, "turns")}
    assert not left & expired and f"turns_p{_day(cutoff)}" in left
    # The calls themselves are not partitioned: their rows stay for the prune to decide.
    assert all(store.get_run(r) is not None for r in gone)
    store.close()


def test_a_replayed_span_batch_is_stored_once_on_the_partitioned_table(pg_url: str) -> None:
    store = Store.open(pg_url, create=True)
    # From an hour into today (UTC), whatever the time of day the test runs at: 200 spans
    # 1,000 s apart then span exactly three days of partitions.
    today = utcnow().replace(hour=1, minute=0, second=0, microsecond=0)
    start = int(today.timestamp() * 1e9)
    batch = [
        SpanRecord("e" * 32, f"{i + 1:016x}", "tts", start + i * 10**12, start + i * 10**12 + 5)
        for i in range(200)  # spread over three days of partitions
    ]
    assert store.save_spans_bulk(batch) == 200
    assert store.save_spans_bulk(batch) == 0
    assert store.save_spans_bulk([*batch[:5], *batch[:5]]) == 0
    assert store.save_spans(batch[:50]) == 0
    assert len(_rows(store.engine, "spans")) == 200
    assert len(set(_homes(store.engine, "spans").values())) == 3
    run = make_run()
    assert store.save_run(run) and not store.save_run(run)
    store.replace_run(run)
    store.replace_run(run)
    got = store.get_run(run.id)
    assert got is not None and len(got.turns) == 2
    assert len(store.spans_for_run(run.id)) == 2
    store.close()


def test_rows_far_outside_the_partitions_land_in_default_and_are_kept(pg_url: str) -> None:
    store = Store.open(pg_url, create=True)
    future, past = datetime(2100, 1, 1, 9, tzinfo=UTC), datetime(1990, 6, 1, 9, tzinfo=UTC)
    ids = _store_calls(store, [future, past])
    before = _snapshot(store.engine)
    assert set(_homes(store.engine, "turns").values()) == {"turns_default"}
    assert set(_homes(store.engine, "spans").values()) == {"spans_default"}
    got = store.query_turns(since=past - timedelta(hours=1), until=past + timedelta(hours=1))
    assert {t.run_id for t in got} == {ids[1]}
    assert len(store.spans_for_run(ids[0])) == 2
    # The next scheduled call gives them their days.
    made = ensure_partitions(store, utcnow())
    assert {"turns_p21000101", "turns_p19900601", "spans_p21000101", "spans_p19900601"} <= set(made)
    assert _snapshot(store.engine) == before
    assert set(_homes(store.engine, "turns").values()) == {"turns_p21000101", "turns_p19900601"}
    store.close()


def test_the_schedule_ensures_when_due_and_survives_a_store_that_is_down(pg_url: str) -> None:
    store = Store.open(pg_url, create=True)
    schedule = PartitionSchedule(every_s=100, ahead=timedelta(days=9))
    made = schedule.tick(store, 1000.0)
    assert len(made) == 4  # days 8 and 9 ahead of both tables; the migration made the week
    with store.engine.begin() as c:
        c.execute(text(f'DROP TABLE "{made[0]}"'))
    assert schedule.tick(store, 1050.0) == []  # not due yet
    assert schedule.tick(store, 1100.0) == [made[0]]
    store.close()
    down = Store(make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none"))
    assert PartitionSchedule().tick(down, 0.0) == []


def test_sqlite_has_no_partitions_and_every_call_is_a_no_op(sqlite_url: str) -> None:
    store = Store.open(sqlite_url, create=True)
    now = utcnow()
    _store_calls(store, [now - timedelta(days=40)])
    assert not is_partitioned(store, "turns")
    assert ensure_partitions(store, now) == []
    assert list_partitions(store, "spans") == []
    assert expired_partitions(store, "turns", now) == []
    assert drop_partitions_before(store, "turns", now) == 0
    assert len(store.query_turns()) == 2
    assert PartitionSchedule().tick(store, 0.0) == []
    store.close()


def test_bad_arguments_get_one_line_errors(sqlite_url: str) -> None:
    store = Store.open(sqlite_url, create=True)
    with pytest.raises(Exception, match="not a partitioned table; use one of turns, spans"):
        is_partitioned(store, "probe_runs")
    with pytest.raises(Exception, match="naive datetime"):
        drop_partitions_before(store, "turns", datetime(2026, 1, 1))
    store.close()


def test_making_a_day_while_writers_fill_it_in_the_default_partition_loses_nothing(
    pg_url: str,
) -> None:
    store = Store.open(pg_url, create=True)
    day = datetime(2032, 2, 2, tzinfo=UTC)
    old_day = day - timedelta(days=40)
    ensure_partitions(store, old_day, ahead=timedelta(0))
    _store_calls(store, [old_day, old_day])
    saved: list[str] = []
    failed: list[str] = []
    stop = threading.Event()

    def write() -> None:
        writer = Store.open(pg_url)
        try:
            for i in range(100_000):
                if stop.is_set():
                    break
                run = make_run(started_at=day + timedelta(seconds=i), turns=1)
                assert writer.save_run(run)
                saved.append(run.id)
        except Exception as exc:
            failed.append(f"{type(exc).__name__}: {exc}")
        finally:
            writer.close()

    def until(n: int) -> None:
        deadline = time.monotonic() + 30
        while len(saved) < n and not failed and time.monotonic() < deadline:
            time.sleep(0.01)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        until(20)  # rows of the day are flowing into the default partition
        made = ensure_partitions(store, day, ahead=timedelta(0))
        until(len(saved) + 40)  # and go on, now into the day's own partition
        dropped = drop_partitions_before(store, "turns", day - timedelta(days=30))
        until(len(saved) + 20)
    finally:
        stop.set()
        thread.join(30)
    assert failed == []
    assert made == ["turns_p20320202", "spans_p20320202"]
    assert dropped == 4  # the two old calls' turns, and nothing the writer wrote
    turns = _rows(store.engine, "turns")
    assert sorted(r["run_id"] for r in turns) == sorted(saved)
    assert set(_homes(store.engine, "turns").values()) == {"turns_p20320202"}
    store.close()
