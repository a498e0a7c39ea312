"""Retention: how long each kind of row is kept, and the prune that removes what has expired.

A probe fleet and production traffic write turns and spans forever; without
retention the store only grows, and every wide query with it. The policy is
a handful of settings (``retention_spans``, ``retention_turns``, ...,
resolved like every setting: ``VOICEOBS_*`` env var > config file > default)
and :func:`prune` applies it. ``voiceobs db prune`` runs it once;
``voiceobs watch`` and ``voiceobs collect`` run it every ``prune_interval``
through :class:`PruneSchedule`.

What prune never removes, whatever the policy says:

* an open (or acknowledged) incident, its actions, hook claims and delivery
  attempts; evaluations of its SLO recorded since it opened (the burn that
  explains it);
* a hook claim that is not final (a delivery still owed), nor an incident
  that has one.

How it stays out of the way of writers:

* rows are removed in batches, each its own short transaction: the ids of
  a batch are read first (a read: on SQLite in WAL mode it takes no lock),
  then deleted by primary key. The batch size adapts so a batch takes about
  ``TARGET_BATCH_S``; on SQLite prune then sleeps as long as the batch took,
  so a probe waiting on the write lock (the busy timeout) gets it between
  two batches instead of waiting for the whole prune.
* a call is removed whole (its turns with it), by the call's start time, so
  no SLO ever sees half a call. A call's turns start after the call does, so
  raw turns are complete only from ``cutoff + RAW_MARGIN``: see
  :meth:`RetentionPolicy.rollup_horizon`, the instant before which the
  per-minute SLO rollups are never recomputed (their raw rows may be gone).
* on SQLite the pages freed are given back to the file system with
  ``PRAGMA incremental_vacuum`` in bounded steps, when the file is in
  incremental auto-vacuum mode (new stores are: ``voiceobs.store.engine``).
  An older store is converted by ``voiceobs db prune --vacuum``, a full
  rewrite (``VACUUM``) that holds the write lock until it ends: run it once,
  when nothing writes. Until then SQLite reuses the freed pages for new
  rows, so the file stops growing but does not shrink.

Each table is expired by one step, :func:`_expire`: on PostgreSQL, dropping
whole time partitions older than the cutoff can go in front of its batched
deletes without touching anything else. There the batched delete of an
expired call's turns looks only up to ``cutoff + RAW_MARGIN`` (a call's
turns start within that of it), so it reads a partition or two rather than
every day's; a turn later than that goes with its own day partition.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, delete, exists, func, or_, select
from sqlalchemy.exc import SQLAlchemyError

from voiceobs.config import resolve
from voiceobs.durations import format_duration, parse_duration
from voiceobs.errors import ConfigError, VoiceObsError
from voiceobs.results import utcnow
from voiceobs.store import partitions
from voiceobs.store.engine import translate_db_error
from voiceobs.store.filters import floor_minute, minute_start
from voiceobs.store.hook_claims import FINAL_CLAIM_STATES
from voiceobs.store.models import (
    HookClaim,
    HookDelivery,
    Incident,
    IncidentAction,
    LatencyHistogram,
    MetricRollup,
    ProbeRun,
    SloEvaluation,
    SloRollup,
    Span,
    Turn,
)
from voiceobs.store.repository import Store

log = logging.getLogger(__name__)

#: Words that mean "never prune this kind of row".
KEEP_WORDS = ("keep", "forever")
#: The default policy: what a user would expect, and what README.md lists.
DEFAULTS: dict[str, str] = {
    "spans": "14d",
    "turns": "30d",
    "hooks": "30d",
    "rollups": "400d",
    "evaluations": "400d",
    "incidents": "400d",
}
#: How often watch and collect prune by default (``prune_interval``; 0 or off disables).
DEFAULT_PRUNE_INTERVAL = "1h"
#: Hook retries (give_up_after) and cooldowns read claims and deliveries back for up to 30 days.
MIN_HOOKS = timedelta(days=30)
#: Turns of a call that started before the cutoff go with it; calls are assumed shorter than this.
RAW_MARGIN = timedelta(days=1)
#: Every table prune may remove rows from, in the order it reports them.
TABLES = (
    "spans",
    "turns",
    "probe_runs",
    "hook_deliveries",
    "hook_claims",
    "incident_actions",
    "incidents",
    "slo_evaluations",
    "slo_rollups",
    "latency_histograms",
    "metric_rollups",
)
#: What a batch should take; the batch size follows the time the last one took.
TARGET_BATCH_S = 0.05
#: First batch size, and the bounds the adaptive size stays within.
BATCH_ROWS = 1000
MIN_BATCH_ROWS = 50
MAX_BATCH_ROWS = 20_000
#: Pages freed per incremental_vacuum step (4 MiB at SQLite's default 4 KiB page).
VACUUM_STEP_PAGES = 1024


def _parse_keep(name: str, value: object) -> timedelta | None:
    if isinstance(value, str) and value.strip().lower() in KEEP_WORDS:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ConfigError(
            f"{name}: {exc} (or keep, to never prune); set it in VOICEOBS_{name.upper()} "
            "or the config file"
        ) from None


@dataclass(frozen=True)
class RetentionPolicy:
    """How long each kind of row is kept; None keeps it forever.

    ``turns`` covers calls (``probe_runs``) and their turns; ``hooks`` hook
    claims and delivery attempts; ``incidents`` resolved incidents with
    their actions (counted from when they were resolved).
    """

    spans: timedelta | None = timedelta(days=14)
    turns: timedelta | None = timedelta(days=30)
    hooks: timedelta | None = timedelta(days=30)
    rollups: timedelta | None = timedelta(days=400)
    evaluations: timedelta | None = timedelta(days=400)
    incidents: timedelta | None = timedelta(days=400)

    def __post_init__(self) -> None:
        for name in ("hooks", "incidents"):
            value = getattr(self, name)
            if value is not None and value < MIN_HOOKS:
                raise ConfigError(
                    f"retention_{name} is {format_duration(value)}; keep at least "
                    f"{format_duration(MIN_HOOKS)}, since hook retries and cooldowns read them "
                    "back for up to 30 days"
                )
        if self.rollups is not None and (self.turns is None or self.rollups < self.turns):
            raw = "keep" if self.turns is None else format_duration(self.turns)
            raise ConfigError(
                f"retention_rollups ({format_duration(self.rollups)}) is shorter than "
                f"retention_turns ({raw}); SLOs read the rollups, so keep them at least as long"
            )

    @classmethod
    def load(cls, **explicit: object) -> RetentionPolicy:
        """The policy from the settings (``retention_<kind>``); explicit values win."""
        values = {}
        for f in fields(cls):
            setting = f"retention_{f.name}"
            raw = resolve(setting, explicit.get(f.name), DEFAULTS[f.name])
            values[f.name] = _parse_keep(setting, raw)
        return cls(**values)

    def cutoff(self, kind: str, now: datetime) -> datetime | None:
        """Rows of ``kind`` from before this instant have expired (a whole UTC minute)."""
        keep: timedelta | None = getattr(self, kind)
        if keep is None:
            return None
        return minute_start(floor_minute(now - keep))

    def rollup_horizon(self, now: datetime) -> datetime | None:
        """Before this instant raw calls and turns may be gone: rollups there are never recomputed.

        None when raw calls are kept forever. The margin past the cutoff is
        ``RAW_MARGIN``, or half of ``turns`` when that is shorter, so the
        horizon stays well behind ``now``.
        """
        return self._horizon("turns", now)

    def span_horizon(self, now: datetime) -> datetime | None:
        """``rollup_horizon`` for spans (the stage histograms), which are kept for less time."""
        return self._horizon("spans", now)

    def _horizon(self, kind: str, now: datetime) -> datetime | None:
        cut = self.cutoff(kind, now)
        keep: timedelta | None = getattr(self, kind)
        if cut is None or keep is None:
            return None
        return cut + min(RAW_MARGIN, keep / 2)

    def describe(self) -> dict[str, str]:
        """Each setting as a person writes it (``14d``, ``keep``)."""
        return {
            f.name: "keep"
            if getattr(self, f.name) is None
            else format_duration(getattr(self, f.name))
            for f in fields(self)
        }


def prune_interval(explicit: object = None) -> timedelta | None:
    """``prune_interval`` from the settings; None when pruning on a schedule is off."""
    raw = resolve("prune_interval", explicit, DEFAULT_PRUNE_INTERVAL)
    if isinstance(raw, str) and raw.strip().lower() in ("off", "0", "no", "false", "never"):
        return None
    try:
        value = parse_duration(raw, allow_zero=True)
    except ValueError as exc:
        raise ConfigError(
            f"prune_interval: {exc} (or 0/off to disable); set it in VOICEOBS_PRUNE_INTERVAL "
            "or the config file"
        ) from None
    return value if value > timedelta(0) else None


@dataclass
class PruneReport:
    """What a prune removed (or, dry, would remove), per table, and how it went."""

    now: datetime
    dry_run: bool
    policy: dict[str, str]
    cutoffs: dict[str, datetime | None]
    removed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    batches: int = 0
    #: Longest single delete transaction: the longest prune held SQLite's write lock at once.
    longest_batch_s: float = 0.0
    seconds: float = 0.0
    #: SQLite: pages before, pages given back to the file system, free pages left in the file.
    pages_before: int | None = None
    pages_freed: int = 0
    free_pages: int | None = None
    #: SQLite's auto_vacuum mode (none, full, incremental); None on PostgreSQL.
    auto_vacuum: str | None = None
    #: True when a stop request ended the prune early (what was removed stays removed).
    stopped: bool = False

    @property
    def total(self) -> int:
        """Rows removed (or that would be) across every table."""
        return sum(self.removed.values())

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form for ``voiceobs db prune --json``."""
        return {
            "dry_run": self.dry_run,
            "now": self.now.isoformat(),
            "policy": dict(self.policy),
            "cutoffs": {k: v.isoformat() if v else None for k, v in self.cutoffs.items()},
            "removed": dict(self.removed),
            "total": self.total,
            "batches": self.batches,
            "longest_batch_s": round(self.longest_batch_s, 6),
            "seconds": round(self.seconds, 6),
            "pages_before": self.pages_before,
            "pages_freed": self.pages_freed,
            "free_pages": self.free_pages,
            "auto_vacuum": self.auto_vacuum,
            "stopped": self.stopped,
        }


class _Batches:
    """Adaptive batch size and the pause between batches that lets other writers in."""

    def __init__(self, store: Store, report: PruneReport, rows: int,
                 stop: threading.Event | None) -> None:  # fmt: skip
        self.store = store
        self.report = report
        self.rows = rows
        self.stop = stop
        self.deadline: float | None = None
        self.sqlite = store.backend == "sqlite"

    def stopped(self) -> bool:
        if self.stop is not None and self.stop.is_set():
            self.report.stopped = True
        if self.deadline is not None and time.perf_counter() >= self.deadline:
            self.report.stopped = True
        return self.report.stopped

    def run(self, work: Callable[[Connection], int]) -> int:
        """One delete transaction; returns the rows it removed."""
        started = time.perf_counter()
        try:
            with self.store.engine.begin() as conn:
                removed = work(conn)
        except SQLAlchemyError as exc:
            raise translate_db_error(exc, self.store.url) from exc
        took = time.perf_counter() - started
        self.report.batches += 1
        self.report.longest_batch_s = max(self.report.longest_batch_s, took)
        if took > TARGET_BATCH_S:
            self.rows = max(MIN_BATCH_ROWS, int(self.rows * TARGET_BATCH_S / took * 0.8))
        elif took < TARGET_BATCH_S / 2:
            self.rows = min(MAX_BATCH_ROWS, self.rows * 2)
        if self.sqlite:
            # SQLite has one write lock: hand it over as long as we held it.
            time.sleep(max(took, 0.002))
        return removed

    def read(self, q: Any) -> list[Any]:
        try:
            with self.store.engine.connect() as conn:
                return list(conn.execute(q))
        except SQLAlchemyError as exc:
            raise translate_db_error(exc, self.store.url) from exc


def _open_incidents() -> Any:
    return select(Incident.id).where(Incident.open_key.is_not(None))


def _not_open(column: Any) -> ColumnElement[bool]:
    return or_(column.is_(None), column.not_in(_open_incidents()))


def _expiring_incidents(cut: datetime) -> ColumnElement[bool]:
    """Resolved before ``cut``, and owing no hook delivery."""
    owed = exists().where(
        HookClaim.incident_id == Incident.id, HookClaim.state.not_in(FINAL_CLAIM_STATES)
    )
    return and_(Incident.open_key.is_(None), Incident.resolved_at < cut, ~owed)


def _evaluation_expired(cut: datetime) -> ColumnElement[bool]:
    explains_open = exists().where(
        Incident.open_key.is_not(None),
        Incident.slo_name == SloEvaluation.slo_name,
        Incident.opened_at <= SloEvaluation.evaluated_at,
    )
    return and_(SloEvaluation.evaluated_at < cut, ~explains_open)


def _claim_expired(cut: datetime) -> ColumnElement[bool]:
    return and_(
        HookClaim.state.in_(FINAL_CLAIM_STATES),
        func.coalesce(HookClaim.finished_at, HookClaim.claimed_at) < cut,
        _not_open(HookClaim.incident_id),
    )


def _delivery_expired(cut: datetime) -> ColumnElement[bool]:
    return and_(HookDelivery.attempted_at < cut, _not_open(HookDelivery.incident_id))


def _count(b: _Batches, model: Any, cond: ColumnElement[bool]) -> int:
    rows = b.read(select(func.count()).select_from(model).where(cond))
    return int(rows[0][0] or 0)


def _dry_counts(b: _Batches, cuts: dict[str, datetime | None]) -> dict[str, int]:
    """What a real prune would remove now, per table, with the same conditions."""
    out = dict.fromkeys(TABLES, 0)
    if (c := cuts["spans"]) is not None:
        out["spans"] = _count(b, Span, Span.start_ns < _ns(c))
    if (c := cuts["turns"]) is not None:
        old_runs = select(ProbeRun.id).where(ProbeRun.started_at < c)
        out["probe_runs"] = _count(b, ProbeRun, ProbeRun.started_at < c)
        out["turns"] = _count(b, Turn, Turn.run_id.in_(old_runs))
    inc_cut = cuts["incidents"]
    expiring = (
        select(Incident.id).where(_expiring_incidents(inc_cut)) if inc_cut is not None else None
    )
    hook_cut = cuts["hooks"]
    for model, expired in ((HookDelivery, _delivery_expired), (HookClaim, _claim_expired)):
        conds = []
        if hook_cut is not None:
            conds.append(expired(hook_cut))
        if expiring is not None:
            conds.append(model.incident_id.in_(expiring))
        if conds:
            out[str(model.__tablename__)] = _count(b, model, or_(*conds))
    if expiring is not None and inc_cut is not None:
        out["incident_actions"] = _count(
            b, IncidentAction, IncidentAction.incident_id.in_(expiring)
        )
        out["incidents"] = _count(b, Incident, _expiring_incidents(inc_cut))
    if (c := cuts["evaluations"]) is not None:
        out["slo_evaluations"] = _count(b, SloEvaluation, _evaluation_expired(c))
    if (c := cuts["rollups"]) is not None:
        out["slo_rollups"] = _count(b, SloRollup, SloRollup.minute < floor_minute(c))
        for rows in (LatencyHistogram, MetricRollup):
            out[str(rows.__tablename__)] = _count(b, rows, rows.minute < floor_minute(c))
    return out


def _ns(at: datetime) -> int:
    return int(at.timestamp()) * 1_000_000_000


def _delete_by_ids(b: _Batches, pick: Callable[[int], Any],
                   remove: Callable[[Connection, list[Any]], dict[str, int]]) -> None:  # fmt: skip
    """Read a batch of ids with ``pick(limit)``, delete them with ``remove``, until none is left."""
    while not b.stopped():
        ids = [row[0] for row in b.read(pick(b.rows))]
        if not ids:
            return
        counted: dict[str, int] = {}

        def work(conn: Connection, ids: list[Any] = ids, counted: dict[str, int] = counted) -> int:
            counted.clear()  # a retried transaction counts once
            counted.update(remove(conn, ids))
            return sum(counted.values())

        b.run(work)
        for table, n in counted.items():
            b.report.removed[table] += n


def _rows(conn: Connection, stmt: Any) -> int:
    return int(conn.execute(stmt).rowcount or 0)


def _drop_partitions(b: _Batches, table: str, cut: datetime) -> None:
    if b.stopped() or not partitions.is_partitioned(b.store, table):
        return
    started = time.perf_counter()
    removed = partitions.drop_partitions_before(b.store, table, cut)
    took = time.perf_counter() - started
    if removed or took > 0.001:
        b.report.batches += 1
        b.report.longest_batch_s = max(b.report.longest_batch_s, took)
    b.report.removed[table] += removed


def _expire(b: _Batches, table: str, cut: datetime) -> None:
    """Remove the expired rows of one table (with what hangs off them).

    The one place per table where rows go: on PostgreSQL, whole day
    partitions older than ``cut`` are dropped first (``voiceobs.store.partitions``;
    a turn's partition holds only turns of calls that started even earlier,
    so of expired calls), then batched deletes remove what is left: the day
    that straddles the cutoff and any old rows in the default partition.
    """
    if table in ("spans", "probe_runs"):
        _drop_partitions(b, "spans" if table == "spans" else "turns", cut)
    if table == "spans":
        last = [0]
        cut_ns = _ns(cut)

        def pick_spans(limit: int) -> Any:
            # Keyset on the id: spans have no index on start time, and each batch
            # starts where the last one ended instead of rescanning the table.
            return (
                select(Span.id)
                .where(Span.id > last[0], Span.start_ns < cut_ns)
                .order_by(Span.id)
                .limit(limit)
            )

        def remove_spans(conn: Connection, ids: list[Any]) -> dict[str, int]:
            last[0] = max(ids)
            return {"spans": _rows(conn, delete(Span).where(Span.id.in_(ids)))}

        _delete_by_ids(b, pick_spans, remove_spans)
    elif table == "probe_runs":

        def pick_runs(limit: int) -> Any:
            return (
                select(ProbeRun.id)
                .where(ProbeRun.started_at < cut)
                .order_by(ProbeRun.started_at)
                # A call has a few turns: keep the rows a batch removes near the batch size.
                .limit(max(1, limit // 4))
            )

        of_runs: list[ColumnElement[bool]] = []
        if partitions.is_partitioned(b.store, "turns"):
            # A call's turns start within RAW_MARGIN of it (what the rollup horizon assumes):
            # bounding them lets PostgreSQL look in the partitions up to cut + RAW_MARGIN
            # instead of every day partition, per call (benchmarks/store/RESULTS.md).
            # A turn later than that is left to go with its own day partition.
            of_runs.append(Turn.started_at < cut + RAW_MARGIN)

        def remove_runs(conn: Connection, ids: list[Any]) -> dict[str, int]:
            return {
                "turns": _rows(conn, delete(Turn).where(Turn.run_id.in_(ids), *of_runs)),
                "probe_runs": _rows(conn, delete(ProbeRun).where(ProbeRun.id.in_(ids))),
            }

        _delete_by_ids(b, pick_runs, remove_runs)
    elif table == "hook_deliveries":
        _delete_by_ids(
            b,
            lambda limit: select(HookDelivery.id).where(_delivery_expired(cut)).limit(limit),
            lambda conn, ids: {
                "hook_deliveries": _rows(conn, delete(HookDelivery).where(HookDelivery.id.in_(ids)))
            },
        )
    elif table == "hook_claims":
        _delete_by_ids(
            b,
            lambda limit: select(HookClaim.id).where(_claim_expired(cut)).limit(limit),
            lambda conn, ids: {
                "hook_claims": _rows(
                    conn,
                    delete(HookClaim).where(
                        HookClaim.id.in_(ids), HookClaim.state.in_(FINAL_CLAIM_STATES)
                    ),
                )
            },
        )
    elif table == "incidents":

        def remove_incidents(conn: Connection, ids: list[Any]) -> dict[str, int]:
            # Children first, so every row is counted (and none left to a cascade).
            out = {
                "incident_actions": _rows(
                    conn, delete(IncidentAction).where(IncidentAction.incident_id.in_(ids))
                ),
                "hook_claims": _rows(conn, delete(HookClaim).where(HookClaim.incident_id.in_(ids))),
                "hook_deliveries": _rows(
                    conn, delete(HookDelivery).where(HookDelivery.incident_id.in_(ids))
                ),
            }
            out["incidents"] = _rows(
                conn, delete(Incident).where(Incident.id.in_(ids), Incident.open_key.is_(None))
            )
            return out

        _delete_by_ids(
            b,
            lambda limit: (
                select(Incident.id).where(_expiring_incidents(cut)).limit(max(1, limit // 20))
            ),
            remove_incidents,
        )
    elif table == "slo_evaluations":
        _delete_by_ids(
            b,
            lambda limit: (
                select(SloEvaluation.id)
                .where(_evaluation_expired(cut))
                .order_by(SloEvaluation.evaluated_at)
                .limit(limit)
            ),
            lambda conn, ids: {
                "slo_evaluations": _rows(
                    conn, delete(SloEvaluation).where(SloEvaluation.id.in_(ids))
                )
            },
        )
    elif table == "slo_rollups":
        _expire_rollups(b, floor_minute(cut))
    elif table == "latency_histograms":
        _expire_histograms(b, LatencyHistogram, floor_minute(cut))
    elif table == "metric_rollups":
        _expire_histograms(b, MetricRollup, floor_minute(cut))
    else:  # pragma: no cover - TABLES and the steps are written together
        raise ValueError(f"no retention step for table {table!r}")


def _expire_rollups(b: _Batches, before: int) -> None:
    """Per SLI key, oldest minutes first, at most a batch of minutes per transaction."""
    keys = [
        k for (k,) in b.read(select(SloRollup.slo_key).where(SloRollup.minute < before).distinct())
    ]
    for key in keys:
        while not b.stopped():
            # The minute of the batch's last row: each transaction removes at most b.rows rows.
            edge = b.read(
                select(SloRollup.minute)
                .where(SloRollup.slo_key == key, SloRollup.minute < before)
                .order_by(SloRollup.minute)
                .offset(b.rows - 1)
                .limit(1)
            )
            upto = int(edge[0][0]) + 1 if edge else before
            stmt = delete(SloRollup).where(SloRollup.slo_key == key, SloRollup.minute < upto)
            b.report.removed["slo_rollups"] += b.run(
                lambda conn, stmt=stmt: _rows(conn, stmt)  # type: ignore[misc]
            )
            if not edge:
                break


def _expire_histograms(
    b: _Batches, model: type[LatencyHistogram] | type[MetricRollup], before: int
) -> None:
    """Oldest minutes first (hour rows go with the minute they start at), a batch per transaction."""
    while not b.stopped():
        edge = b.read(
            select(model.minute)
            .where(model.minute < before)
            .order_by(model.minute)
            .offset(b.rows - 1)
            .limit(1)
        )
        upto = int(edge[0][0]) + 1 if edge else before
        stmt = delete(model).where(model.minute < upto)
        b.report.removed[str(model.__tablename__)] += b.run(
            lambda conn, stmt=stmt: _rows(conn, stmt)  # type: ignore[misc]
        )
        if not edge:
            break


# The order steps run in: hook rows by age before incidents take theirs along.
_STEPS: Sequence[tuple[str, str]] = (
    ("spans", "spans"),
    ("probe_runs", "turns"),
    ("hook_deliveries", "hooks"),
    ("hook_claims", "hooks"),
    ("incidents", "incidents"),
    ("slo_evaluations", "evaluations"),
    ("slo_rollups", "rollups"),
    ("latency_histograms", "rollups"),
    ("metric_rollups", "rollups"),
)


def _auto_vacuum_mode(store: Store) -> str | None:
    if store.backend != "sqlite":
        return None
    with store.engine.connect() as conn:
        mode = int(conn.exec_driver_sql("PRAGMA auto_vacuum").scalar() or 0)
    return {0: "none", 1: "full", 2: "incremental"}.get(mode, str(mode))


def page_counts(store: Store) -> tuple[int, int]:
    """SQLite: ``(page_count, freelist_count)`` of the store's file."""
    with store.engine.connect() as conn:
        pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar() or 0)
        free = int(conn.exec_driver_sql("PRAGMA freelist_count").scalar() or 0)
    return pages, free


def _reclaim(b: _Batches) -> None:
    """Give SQLite's free pages back to the file system, a bounded step per transaction."""
    report = b.report
    if report.auto_vacuum is None:
        return
    while report.auto_vacuum == "incremental" and not b.stopped():
        _, free = page_counts(b.store)
        if free == 0:
            break
        started = time.perf_counter()
        raw = b.store.engine.raw_connection()
        try:
            # executescript steps the pragma to the end: execute() would free one page.
            raw.driver_connection.executescript(  # type: ignore[union-attr]
                f"PRAGMA incremental_vacuum({VACUUM_STEP_PAGES})"
            )
        finally:
            raw.close()
        took = time.perf_counter() - started
        report.longest_batch_s = max(report.longest_batch_s, took)
        time.sleep(max(took, 0.002))
    pages, free = page_counts(b.store)
    report.pages_freed = max(0, (report.pages_before or 0) - pages)
    report.free_pages = free


def prune(
    store: Store,
    policy: RetentionPolicy | None = None,
    now: datetime | None = None,
    *,
    dry_run: bool = False,
    batch_rows: int = BATCH_ROWS,
    stop: threading.Event | None = None,
    max_seconds: float | None = None,
) -> PruneReport:
    """Remove every row ``policy`` says has expired at ``now``; ``dry_run`` only counts them.

    Safe beside running probes, collectors and evaluators (short batches, see
    the module's docstring), and beside another prune (a row two of them
    pick is removed once, and counted once). ``stop`` ends it between two
    batches, and so does ``max_seconds`` passing (a catch-up prune of a big
    store then goes on at the next call); ``report.stopped`` says so.
    Raises StoreError (one line) when the store cannot be used.
    """
    policy = policy or RetentionPolicy.load()
    now = (now or utcnow()).astimezone(UTC)
    kinds = ("spans", "turns", "hooks", "rollups", "evaluations", "incidents")
    cuts = {k: policy.cutoff(k, now) for k in kinds}
    report = PruneReport(now=now, dry_run=dry_run, policy=policy.describe(), cutoffs=cuts)
    b = _Batches(store, report, max(MIN_BATCH_ROWS, batch_rows), stop)
    started = time.perf_counter()
    if max_seconds is not None:
        b.deadline = started + max_seconds
    try:
        report.auto_vacuum = _auto_vacuum_mode(store)
        if report.auto_vacuum is not None:
            report.pages_before, report.free_pages = page_counts(store)
    except SQLAlchemyError as exc:
        raise translate_db_error(exc, store.url) from exc
    if dry_run:
        report.removed = _dry_counts(b, cuts)
    else:
        for table, kind in _STEPS:
            cut = cuts[kind]
            if cut is not None and not b.stopped():
                _expire(b, table, cut)
        try:
            _reclaim(b)
        except SQLAlchemyError as exc:
            raise translate_db_error(exc, store.url) from exc
    report.seconds = time.perf_counter() - started
    return report


def vacuum(store: Store) -> tuple[int, int]:
    """Rewrite a SQLite file in incremental auto-vacuum mode; ``(pages before, pages after)``.

    A full ``VACUUM``: it holds the write lock (and needs as much free disk
    as the file) until it ends, so probes wait. Run it once on a store made
    before incremental mode, when nothing writes; later prunes give pages
    back in small steps.
    """
    if store.backend != "sqlite":
        raise ConfigError("--vacuum is for SQLite stores; PostgreSQL's autovacuum reclaims space")
    before, _ = page_counts(store)
    raw = store.engine.raw_connection()
    try:
        raw.driver_connection.executescript(  # type: ignore[union-attr]
            "PRAGMA auto_vacuum=INCREMENTAL; VACUUM;"
        )
    except Exception as exc:  # sqlite3 errors are not SQLAlchemy's here
        raise translate_db_error(SQLAlchemyError(str(exc)), store.url) from exc
    finally:
        raw.close()
    after, _ = page_counts(store)
    return before, after


class PruneSchedule:
    """Prune every ``interval`` inside a long-running command, never breaking it.

    ``watch`` calls :meth:`run_if_due` between passes, with ``max_seconds``
    so a catch-up prune of a big store never delays the next evaluation by
    more than that (it goes on between the following passes); ``collect``
    runs :meth:`start` (a thread of its own, so span intake never waits on a
    prune). A failed prune is logged and counted (``errors``) and tried again
    at the next interval.
    """

    def __init__(
        self,
        policy: RetentionPolicy,
        interval: timedelta,
        *,
        max_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        observe: Callable[[PruneReport | None], None] | None = None,
    ) -> None:
        self.policy = policy
        self.interval = interval.total_seconds()
        #: Longest one prune may run; one cut short is due again at once (it resumes next time).
        self.max_seconds = max_seconds
        #: Told of every prune run: its report, or None when it failed (the host's metrics).
        self.observe = observe
        self.clock = clock
        self.next_at = clock()  # the first prune runs at once: a restart applies the policy
        self.runs = 0
        self.errors = 0
        self.last: PruneReport | None = None
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def due(self) -> bool:
        """True when the next prune should run now."""
        return self.clock() >= self.next_at

    def run_if_due(
        self, store: Store | None, stop: threading.Event | None = None
    ) -> PruneReport | None:
        """Prune ``store`` if the interval has passed; None when not due, no store, or failed."""
        if store is None or not self.due():
            return None
        self.next_at = self.clock() + self.interval
        try:
            report = prune(
                store, self.policy, stop=stop or self._stop, max_seconds=self.max_seconds
            )
        except (VoiceObsError, SQLAlchemyError, OSError) as exc:
            self.errors += 1
            self.last_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.warning("prune failed (%d so far): %s", self.errors, self.last_error)
            if self.observe is not None:
                self.observe(None)
            return None
        self.runs += 1
        self.last = report
        if report.stopped and not (stop or self._stop).is_set():
            self.next_at = self.clock()  # cut short by max_seconds: carry on at the next call
        if report.total:
            log.info("pruned %s", summary(report))
        if self.observe is not None:
            self.observe(report)
        return report

    def start(self, store: Callable[[], Store | None]) -> None:
        """Prune on a thread of its own until :meth:`stop`; ``store()`` gives the store or None."""

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.run_if_due(store())
                except Exception:  # a bug here must not end the host's process
                    self.errors += 1
                    log.exception("prune failed")
                self._stop.wait(max(0.05, self.next_at - self.clock()))

        self._thread = threading.Thread(target=loop, name="voiceobs-prune", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """End the thread (a prune in progress stops after its current batch)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)


def summary(report: PruneReport) -> str:
    """One line: ``1,204 rows (spans 1,000, turns 200, probe_runs 4)`` or ``nothing``."""
    parts = [f"{t} {n:,d}" for t, n in report.removed.items() if n]
    if not parts:
        return "nothing"
    return f"{report.total:,d} rows ({', '.join(parts)})"


__all__ = [
    "BATCH_ROWS",
    "DEFAULTS",
    "DEFAULT_PRUNE_INTERVAL",
    "KEEP_WORDS",
    "MIN_HOOKS",
    "RAW_MARGIN",
    "TABLES",
    "TARGET_BATCH_S",
    "PruneReport",
    "PruneSchedule",
    "RetentionPolicy",
    "page_counts",
    "prune",
    "prune_interval",
    "summary",
    "vacuum",
]
