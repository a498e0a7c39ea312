"""Retention: prune removes exactly what expired, keeps what open incidents need, stays out of
writers' way on SQLite, gives pages back, and leaves SLO figures as they were."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select, text

from tests.store.factories import make_run
from voiceobs.errors import ConfigError
from voiceobs.slo import evaluate, parse_slos
from voiceobs.store import (
    HookClaim,
    HookDelivery,
    Incident,
    IncidentAction,
    ProbeRun,
    SloEvaluation,
    SloRollup,
    Span,
    Store,
    Turn,
    rollups,
)
from voiceobs.store.models import LatencyHistogram, MetricRollup
from voiceobs.store.retention import (
    TABLES,
    PruneSchedule,
    RetentionPolicy,
    page_counts,
    prune,
    prune_interval,
)

# Mid-minute on purpose: cutoffs are whole minutes, windows are not.
NOW = datetime(2026, 11, 1, 12, 0, 30, tzinfo=UTC)
DAY = timedelta(days=1)
MODELS = {
    "spans": Span,
    "turns": Turn,
    "probe_runs": ProbeRun,
    "hook_deliveries": HookDelivery,
    "hook_claims": HookClaim,
    "incident_actions": IncidentAction,
    "incidents": Incident,
    "slo_evaluations": SloEvaluation,
    "slo_rollups": SloRollup,
    "latency_histograms": LatencyHistogram,
    "metric_rollups": MetricRollup,
}


def _counts(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {
            t: int(conn.execute(select(func.count()).select_from(m)).scalar() or 0)
            for t, m in MODELS.items()
        }


def _call(conn: Any, started: datetime, *, turns: int = 2, spans: int = 2) -> str:
    run_id = uuid.uuid4().hex
    conn.execute(
        insert(ProbeRun),
        [{"id": run_id, "probe_name": "p", "target_url": "ws://t", "started_at": started,
          "status": "ok"}],
    )  # fmt: skip
    if turns:
        conn.execute(
            insert(Turn),
            [{"run_id": run_id, "turn_index": i, "started_at": started + timedelta(seconds=i),
              "probe_name": "p", "target_url": "ws://t"} for i in range(turns)],
        )  # fmt: skip
    if spans:
        ns = int(started.timestamp() * 1e9)
        conn.execute(
            insert(Span),
            [{"trace_id": run_id, "span_id": f"{i:016x}", "run_id": run_id, "name": "turn",
              "start_ns": ns + i, "end_ns": ns + i + 1} for i in range(spans)],
        )  # fmt: skip
    return run_id


def _incident(conn: Any, slo: str, *, opened: datetime, resolved: datetime | None) -> int:
    values = {
        "slo_name": slo, "severity": "page", "opened_at": opened,
        "state": "open" if resolved is None else "resolved",
        "open_key": f"{slo}|page" if resolved is None else None, "resolved_at": resolved,
    }  # fmt: skip
    return int(conn.execute(insert(Incident).values(**values)).inserted_primary_key[0])


def _claim(conn: Any, incident: int, at: datetime, state: str = "delivered") -> None:
    conn.execute(
        insert(HookClaim).values(
            incident_id=incident, hook_name="pager", event="firing", claimed_at=at,
            state=state, idempotency_key=uuid.uuid4().hex,
            finished_at=at if state != "pending" else None,
        )
    )  # fmt: skip


def _delivery(conn: Any, incident: int | None, at: datetime) -> None:
    conn.execute(
        insert(HookDelivery).values(
            incident_id=incident, hook_name="pager", action="webhook", event="firing",
            attempted_at=at, outcome="ok",
        )
    )  # fmt: skip


def _action(conn: Any, incident: int, at: datetime) -> None:
    conn.execute(
        insert(IncidentAction).values(incident_id=incident, action="resolve", actor="sre", at=at)
    )


def _evaluation(conn: Any, slo: str, at: datetime) -> None:
    conn.execute(
        insert(SloEvaluation).values(slo_name=slo, window="30d", evaluated_at=at, objective=0.99)
    )


def _seed(store: Store) -> dict[str, Any]:
    """Rows of every kind on both sides of the default policy's cutoffs (see the test)."""
    cutoff = datetime(2026, 10, 2, 12, 0, tzinfo=UTC)  # NOW - 30d, floored to the minute
    keep: dict[str, Any] = {}
    with store.engine.begin() as conn:
        keep["runs"] = {_call(conn, NOW - age) for age in (DAY, 10 * DAY, 29 * DAY)} | {
            _call(conn, cutoff)
        }  # the cutoff itself is kept: [cutoff, now)
        for started in (cutoff - timedelta(seconds=1), NOW - 31 * DAY, NOW - 45 * DAY):
            _call(conn, started)
        old = NOW - 401 * DAY
        gone = _incident(conn, "a", opened=old - DAY, resolved=old)  # all of it goes
        _action(conn, gone, old)
        _claim(conn, gone, old)
        _delivery(conn, gone, old)
        still_open = _incident(conn, "b", opened=NOW - 500 * DAY, resolved=None)  # all of it stays
        _action(conn, still_open, NOW - 450 * DAY)
        _claim(conn, still_open, NOW - 450 * DAY)
        _delivery(conn, still_open, NOW - 450 * DAY)
        recent = _incident(conn, "c", opened=NOW - 41 * DAY, resolved=NOW - 40 * DAY)
        _claim(conn, recent, NOW - 40 * DAY)  # its hook rows go (30d), the incident stays (400d)
        _delivery(conn, recent, NOW - 40 * DAY)
        owed = _incident(conn, "d", opened=old - DAY, resolved=old)  # a delivery still owed
        _claim(conn, owed, old, state="pending")
        _delivery(conn, None, NOW - 40 * DAY)  # not an incident's: goes
        _evaluation(conn, "a", NOW - 10 * DAY)
        _evaluation(conn, "a", NOW - 401 * DAY)  # goes
        _evaluation(conn, "b", NOW - 450 * DAY)  # after b opened: explains it, stays
        _evaluation(conn, "b", NOW - 600 * DAY)  # before b opened: goes
        minute = int(NOW.timestamp() // 60)
        conn.execute(
            insert(SloRollup),
            [{"slo_key": "k", "minute": minute - 10 * 1440, "good": 1, "total": 1},
             {"slo_key": "k", "minute": minute - 401 * 1440, "good": 1, "total": 1}],
        )  # fmt: skip
        series = {"source": "synthetic", "probe_name": "p", "target_url": "ws://t", "region": ""}
        conn.execute(
            insert(LatencyHistogram),
            [{**series, "width": 1, "measure": "turn_latency_ms", "minute": minute - 10 * 1440,
              "n": 1, "total": 500.0, "counts": "[300, 1]"},
             {**series, "width": 60, "measure": "turn_latency_ms", "minute": (minute - 401 * 1440) // 60 * 60,
              "n": 1, "total": 500.0, "counts": "[300, 1]"}],
        )  # fmt: skip
        labels = {**series, "framework": "", "service": ""}
        conn.execute(
            insert(MetricRollup),
            [{**labels, "measure": "calls_ok", "minute": (minute - 10 * 1440) // 60 * 60, "n": 3,
              "total": 0.0, "le": "[]"},
             {**labels, "measure": "calls_ok", "minute": (minute - 401 * 1440) // 60 * 60, "n": 2,
              "total": 0.0, "le": "[]"}],
        )  # fmt: skip
    keep.update(open=still_open, recent=recent, owed=owed)
    return keep


EXPECTED = {
    "spans": 10,  # every call from 14 days back: 5 calls x 2
    "turns": 6,
    "probe_runs": 3,
    "hook_deliveries": 3,
    "hook_claims": 2,
    "incident_actions": 1,
    "incidents": 1,
    "slo_evaluations": 2,
    "slo_rollups": 1,
    "latency_histograms": 1,
    "metric_rollups": 1,
}


def test_prune_removes_exactly_the_expired_rows_and_keeps_the_rest(store: Store) -> None:
    keep = _seed(store)
    before = _counts(store)
    report = prune(store, RetentionPolicy(), NOW)
    assert report.removed == EXPECTED
    after = _counts(store)
    assert after == {t: before[t] - EXPECTED[t] for t in TABLES}
    with store.engine.connect() as conn:
        assert set(conn.execute(select(ProbeRun.id)).scalars()) == keep["runs"]
        assert set(conn.execute(select(Incident.id)).scalars()) == {
            keep["open"],
            keep["recent"],
            keep["owed"],
        }
        # The open incident keeps every row it has, however old.
        assert (
            conn.execute(
                select(func.count())
                .select_from(HookClaim)
                .where(HookClaim.incident_id == keep["open"])
            ).scalar()
            == 1
        )
        assert (
            conn.execute(
                select(func.count())
                .select_from(HookDelivery)
                .where(HookDelivery.incident_id == keep["open"])
            ).scalar()
            == 1
        )
        assert set(conn.execute(select(IncidentAction.incident_id)).scalars()) == {keep["open"]}
        assert set(conn.execute(select(HookClaim.state)).scalars()) == {"delivered", "pending"}
        assert sorted(conn.execute(select(SloEvaluation.slo_name)).scalars()) == ["a", "b"]
    # Pruning again finds nothing more.
    assert prune(store, RetentionPolicy(), NOW).total == 0


def test_dry_run_removes_nothing_and_reports_the_same_counts(store: Store) -> None:
    _seed(store)
    before = _counts(store)
    dry = prune(store, RetentionPolicy(), NOW, dry_run=True)
    assert dry.dry_run and dry.removed == EXPECTED
    assert _counts(store) == before
    assert prune(store, RetentionPolicy(), NOW).removed == dry.removed


def test_keep_prunes_nothing_of_that_kind(store: Store) -> None:
    _seed(store)
    policy = RetentionPolicy(
        spans=None, turns=None, hooks=None, rollups=None, evaluations=None, incidents=None
    )
    assert prune(store, policy, NOW).total == 0
    assert RetentionPolicy.load(turns="keep", rollups="keep").turns is None


LONG = parse_slos(
    """version: voiceobs/v1
slos:
  - name: lat
    sli: {kind: latency, threshold_ms: 500}
    objective: 99%
    window: 60d
  - name: calls
    sli: {kind: availability}
    objective: 99%
    window: 60d
"""
)


def test_slo_over_a_window_past_raw_retention_is_the_same_after_pruning(store: Store) -> None:
    rng = random.Random(7)
    with store.engine.begin() as conn:
        for i in range(60 * 12):  # a call every two hours for 60 days, a few seconds off the minute
            started = NOW - timedelta(hours=2 * i, seconds=rng.randint(0, 59))
            run_id = _call(conn, started, turns=0, spans=0)
            ok = rng.random() > 0.02
            conn.execute(
                text("UPDATE probe_runs SET status = :s WHERE id = :id"),
                {"s": "ok" if ok else "failed", "id": run_id},
            )
            conn.execute(
                insert(Turn),
                [{"run_id": run_id, "turn_index": t, "started_at": started + timedelta(seconds=t),
                  "probe_name": "p", "target_url": "ws://t", "ok": ok,
                  "turn_latency_ms": rng.uniform(200, 700)} for t in range(2)],
            )  # fmt: skip
    policy = RetentionPolicy(turns=timedelta(days=14), spans=timedelta(days=14))
    at = NOW + timedelta(seconds=17)
    before = evaluate(store, LONG, now=at, record=False, retention=policy)
    removed = prune(store, policy, at)
    assert removed.removed["probe_runs"] > 500  # most of the 60 days' raw calls are gone
    after = evaluate(store, LONG, now=at, record=False, retention=policy)
    # Rebuilding the rollups recomputes only what raw rows are left for.
    horizon = policy.rollup_horizon(at)
    rollups.rebuild(store, [s.sli_query() for s in LONG], horizon)
    rebuilt = evaluate(store, LONG, now=at, record=False, retention=policy)
    for b, a, r in zip(before, after, rebuilt, strict=True):
        assert b.total > 1000 or b.slo.name == "calls"
        assert (a.good, a.total, a.burn_rates) == (b.good, b.total, b.burn_rates)
        assert (r.good, r.total, r.burn_rates) == (b.good, b.total, b.burn_rates)
    # Without the horizon a rebuild would zero the pruned minutes: the rows are really gone.
    rollups.rebuild(store, [s.sli_query() for s in LONG])
    wiped = evaluate(store, LONG, now=at, record=False, retention=policy)
    assert all(w.total < b.total for w, b in zip(wiped, before, strict=True))


def _sqlite_file_url(tmp_path: Path, *, incremental: bool = True) -> str:
    path = tmp_path / "store.db"
    if not incremental:
        # A store made before incremental auto-vacuum: a table already exists at first open.
        sqlite3.connect(path).execute("CREATE TABLE made_before (x)").connection.close()
    return f"sqlite:///{path}"


def _bulk_old_calls(store: Store, calls: int, *, turns: int = 4) -> None:
    rows, turn_rows, span_rows = [], [], []
    base = NOW - 60 * DAY
    for i in range(calls):
        run_id = uuid.uuid4().hex
        started = base + timedelta(seconds=i)
        rows.append({"id": run_id, "probe_name": "p", "target_url": "ws://t",
                     "started_at": started, "status": "ok", "failure_detail": "x" * 200})  # fmt: skip
        turn_rows += [{"run_id": run_id, "turn_index": t, "started_at": started,
                       "probe_name": "p", "target_url": "ws://t", "transcript": "y" * 200}
                      for t in range(turns)]  # fmt: skip
        ns = int(started.timestamp() * 1e9)
        span_rows.append({"trace_id": run_id, "span_id": "a" * 16, "name": "turn",
                          "start_ns": ns, "end_ns": ns + 1, "attributes": {"k": "z" * 200}})  # fmt: skip
    with store.engine.begin() as conn:
        conn.execute(insert(ProbeRun), rows)
        conn.execute(insert(Turn), turn_rows)
        conn.execute(insert(Span), span_rows)


def test_sqlite_prune_gives_free_pages_back(tmp_path: Path) -> None:
    store = Store.open(_sqlite_file_url(tmp_path), create=True)
    try:
        _bulk_old_calls(store, 3000)
        pages, _ = page_counts(store)
        report = prune(store, RetentionPolicy(), NOW)
        assert report.removed["probe_runs"] == 3000 and report.auto_vacuum == "incremental"
        pages_after, free_after = page_counts(store)
        assert pages_after < pages / 3
        assert free_after == 0 and report.free_pages == 0
        assert report.pages_freed == report.pages_before - pages_after > 0
        assert report.batches > 3  # bounded batches, not one statement
    finally:
        store.close()


def test_an_old_sqlite_store_keeps_its_free_pages_until_vacuumed(tmp_path: Path) -> None:
    from voiceobs.store.retention import vacuum

    store = Store.open(_sqlite_file_url(tmp_path, incremental=False), create=True)
    try:
        _bulk_old_calls(store, 1000)
        pages, _ = page_counts(store)
        report = prune(store, RetentionPolicy(), NOW)
        assert report.auto_vacuum == "none" and report.pages_freed == 0
        assert report.free_pages and report.free_pages > pages / 2
        before, after = vacuum(store)
        assert before == pages and after < pages / 3
        assert prune(store, RetentionPolicy(), NOW).auto_vacuum == "incremental"
    finally:
        store.close()


def test_a_writer_never_waits_for_a_whole_prune_on_sqlite(tmp_path: Path) -> None:
    """A probe saving calls while prune runs gets the write lock between batches."""
    url = _sqlite_file_url(tmp_path)
    Store.open(url, create=True).close()
    seeder = Store.open(url)
    _bulk_old_calls(seeder, 6000)
    seeder.close()
    pruner, writer = Store.open(url), Store.open(url)
    waits: list[tuple[float, float]] = []
    done = threading.Event()

    def write() -> None:
        i = 0
        while not done.is_set():
            started = time.perf_counter()
            writer.save_run(make_run(started_at=NOW - timedelta(minutes=i % 50), turns=2))
            waits.append((started, time.perf_counter()))
            i += 1

    thread = threading.Thread(target=write)
    try:
        thread.start()
        time.sleep(0.05)
        began = time.perf_counter()
        report = prune(pruner, RetentionPolicy(), NOW)
        ended = time.perf_counter()
        done.set()
        thread.join(60)
    finally:
        done.set()
        pruner.close()
        writer.close()
    assert report.removed["probe_runs"] == 6000 and report.batches >= 5
    during = [(s, e) for s, e in waits if s >= began and e <= ended]
    longest_wait = max(e - s for s, e in waits)
    # Writes went on all through the prune, none of them waiting for more than a small part of it.
    assert len(during) >= 10, (len(during), ended - began)
    assert longest_wait < (ended - began) / 4, (longest_wait, ended - began)


def test_policy_values_are_checked_with_one_line_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICEOBS_RETENTION_TURNS", "a month")
    with pytest.raises(ConfigError, match=r"^retention_turns: invalid duration 'a month'.*keep"):
        RetentionPolicy.load()
    monkeypatch.setenv("VOICEOBS_RETENTION_TURNS", "60d")
    monkeypatch.setenv("VOICEOBS_RETENTION_ROLLUPS", "30d")
    with pytest.raises(ConfigError, match=r"retention_rollups .* is shorter than retention_turns"):
        RetentionPolicy.load()
    monkeypatch.delenv("VOICEOBS_RETENTION_ROLLUPS")
    with pytest.raises(ConfigError, match="retention_hooks is 1d; keep at least 30d"):
        RetentionPolicy.load(hooks="1d")
    assert RetentionPolicy.load().turns == timedelta(days=60)
    assert prune_interval() == timedelta(hours=1)
    for off in ("0", "off"):
        assert prune_interval(off) is None
    with pytest.raises(ConfigError, match=r"^prune_interval: "):
        prune_interval("hourly")


def test_schedule_counts_a_failed_prune_and_goes_on(tmp_path: Path) -> None:
    clock = [0.0]
    store = Store.open(_sqlite_file_url(tmp_path), create=True)
    try:
        schedule = PruneSchedule(RetentionPolicy(), timedelta(minutes=5), clock=lambda: clock[0])
        with store.engine.begin() as conn:
            conn.execute(text("DROP TABLE spans"))
        assert schedule.run_if_due(store) is None
        assert schedule.errors == 1 and "spans" in (schedule.last_error or "")
        assert not schedule.due()  # tried again at the next interval, not in a tight loop
        clock[0] += 301
        assert schedule.due()
    finally:
        store.close()


def test_a_prune_cut_short_by_its_time_budget_resumes_at_the_next_call(tmp_path: Path) -> None:
    clock = [0.0]
    store = Store.open(_sqlite_file_url(tmp_path), create=True)
    try:
        _bulk_old_calls(store, 3000)
        schedule = PruneSchedule(
            RetentionPolicy(), timedelta(hours=1), max_seconds=0.0, clock=lambda: clock[0]
        )
        first = schedule.run_if_due(store)
        assert first is not None and first.stopped and first.batches == 0
        assert schedule.due()  # cut short: due again at once, not in an hour
        schedule.max_seconds = None
        rest = schedule.run_if_due(store)
        assert rest is not None and not rest.stopped
        assert rest.removed["probe_runs"] == 3000
        assert not schedule.due()
        budget = prune(store, RetentionPolicy(), NOW, max_seconds=30.0)
        assert not budget.stopped and budget.total == 0
    finally:
        store.close()


def test_the_rollup_horizon_trails_the_turns_cutoff_by_a_call_length() -> None:
    cut = datetime(2026, 10, 2, 12, 0, tzinfo=UTC)
    assert RetentionPolicy().rollup_horizon(NOW) == cut + DAY
    short = RetentionPolicy(turns=timedelta(hours=12), spans=timedelta(hours=12))
    assert short.rollup_horizon(NOW) == datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
    assert RetentionPolicy(turns=None, rollups=None).rollup_horizon(NOW) is None


def test_opening_a_store_never_waits_for_another_writer(tmp_path: Path) -> None:
    """Making new files incremental must not cost a lock on files in use."""
    url = _sqlite_file_url(tmp_path)
    Store.open(url, create=True).close()
    holder = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the write lock, as a long prune or DELETE holds it
    holder.execute("DELETE FROM spans")
    read_at: list[float] = []

    def read() -> None:
        store = Store.open(url)
        try:
            store.status()
            read_at.append(time.perf_counter())
        finally:
            store.close()

    thread = threading.Thread(target=read)
    thread.start()
    thread.join(10)
    released_at = time.perf_counter()
    holder.execute("COMMIT")
    holder.close()
    thread.join(30)
    assert read_at and read_at[0] < released_at


def test_on_postgresql_prune_drops_whole_day_partitions_and_deletes_the_rest(store: Store) -> None:
    """The same rows go as by deletes alone, the expired days by a drop, the straddling day by rows."""
    from voiceobs.store import partitions

    if store.backend != "postgresql":
        pytest.skip("day partitions are PostgreSQL's")
    keep = _seed(store)
    # The seed's old rows landed in the default partition; give them their days.
    partitions.ensure_partitions(store, NOW)
    days_before = {p.name for p in partitions.list_partitions(store, "turns") if not p.default}
    before = _counts(store)
    report = prune(store, RetentionPolicy(), NOW)
    assert report.removed == EXPECTED
    assert _counts(store) == {t: before[t] - EXPECTED[t] for t in TABLES}
    with store.engine.connect() as conn:
        assert set(conn.execute(select(ProbeRun.id)).scalars()) == keep["runs"]
    days_after = {p.name for p in partitions.list_partitions(store, "turns") if not p.default}
    dropped = days_before - days_after
    # The calls 31 and 45 days old had whole days of their own: those days were dropped.
    for age in (31, 45):
        assert partitions.partition_name("turns", (NOW - age * DAY).date()) in dropped
    assert report.batches >= 1
    # The day the cutoff falls in stays (its later rows are kept), emptied of the rest row by row.
    assert partitions.partition_name("turns", (NOW - 30 * DAY).date()) in days_after
