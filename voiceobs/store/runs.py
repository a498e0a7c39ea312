"""Probe and production calls: runs with their turns and spans, saved together, read back filtered."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from voiceobs.errors import StoreError
from voiceobs.results import RunResult, SpanRecord, TurnResult, utcnow
from voiceobs.store.base import StoreBase
from voiceobs.store.bulk import copy_rows, insert_spans
from voiceobs.store.filters import where_runs
from voiceobs.store.models import ProbeRun, Span, Turn

# Column lists follow the result dataclasses, so a field added there is stored
# without a second list to keep in step (the models test catches a missing column).
_TURN_FIELDS = [f.name for f in fields(TurnResult) if f.name != "started_at"]
_RUN_FIELDS = [f.name for f in fields(RunResult) if f.name not in ("turns", "spans")]
_SPAN_FIELDS = [f.name for f in fields(SpanRecord)]
_SPANS: Table = Span.__table__  # type: ignore[assignment]
_RUNS: Table = ProbeRun.__table__  # type: ignore[assignment]
_TURNS: Table = Turn.__table__  # type: ignore[assignment]


def _dialect_insert(dialect: str, table: Table) -> Any:
    """An INSERT that can skip conflicting rows (``ON CONFLICT``) on the store's backend."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise StoreError(f"bulk run writes support SQLite and PostgreSQL, not {dialect}")


def _spans_of(runs: Sequence[RunResult]) -> list[SpanRecord]:
    """Every span of ``runs``, each carrying the id of the run it was recorded with."""
    return [s if s.run_id else dataclasses.replace(s, run_id=r.id) for r in runs for s in r.spans]


class RunsMixin(StoreBase):
    """Saving and reading calls: a run, its turns and its spans in one transaction."""

    def save_run(self, run: RunResult) -> bool:
        """Save a run with its turns and spans in one transaction.

        Returns False (and changes nothing) when a run with this id is already
        stored, so replaying a spool after a partial failure never duplicates.
        """
        return self.save_runs([run]) == 1

    def save_runs(self, runs: Sequence[RunResult]) -> int:
        """``save_run`` for many calls in one transaction; returns how many were new.

        A run whose id is already stored is skipped with its turns and spans
        (``ON CONFLICT DO NOTHING`` on the id); the others are written with
        one multi-row statement per table (turns by ``COPY`` on PostgreSQL, spans
        by ``voiceobs.store.bulk``), never an ORM object per row: a probe run
        of 400 calls is three statements, not 400 transactions. Rows go in
        id order, so writers on several hosts take their locks in the same
        order and never deadlock.
        """
        batch = sorted({r.id: r for r in runs}.values(), key=lambda r: r.id)
        if not batch:
            return 0
        now = utcnow()
        values = [
            {**{f: getattr(r, f) for f in _RUN_FIELDS}, "finished_at": r.finished_at or now}
            for r in batch
        ]
        with self.session() as s:
            conn = s.connection()
            stmt = _dialect_insert(conn.dialect.name, _RUNS).on_conflict_do_nothing(
                index_elements=["id"]
            )
            new = {row[0] for row in conn.execute(stmt.returning(_RUNS.c.id), values)}
            fresh = [r for r in batch if r.id in new]
            copy_rows(conn, _TURNS, [self._turn_values(r, t) for r in fresh for t in r.turns])
            insert_spans(conn, _SPANS, _spans_of(fresh))
        return len(new)

    def replace_run(self, run: RunResult) -> bool:
        """Save ``run``, replacing a stored run of the same id and its turns; True if one was replaced.

        A production call is assembled from spans that arrive in pieces, so a
        late span rewrites the call it belongs to. The turns are deleted and
        inserted again (new ids, so the SLO rollups and the exporter, which
        follow ``turns.id``, see them); spans already stored are kept, new ones
        added (idempotent on trace and span id). A join made earlier
        (``joined_run_id``) survives a rewrite that does not know of it.
        """
        try:
            return self.replace_runs([run]) == 1
        except StoreError as exc:
            if isinstance(exc.__cause__, IntegrityError) and self._run_exists(run.id):
                return self.replace_run(run)  # another writer inserted it meanwhile: replace that
            raise

    def replace_runs(self, runs: Sequence[RunResult]) -> int:
        """``replace_run`` for many calls in one transaction; returns how many were replaced.

        A busy collector closes hundreds of calls a second: one statement per
        table for the whole batch instead of a transaction per call keeps the
        store from being its bottleneck. All or nothing: a failure (another
        writer inserted one of these ids meanwhile) raises ``StoreError`` and
        changes nothing, and the caller falls back to ``replace_run`` per call.
        """
        latest = {r.id: r for r in runs}  # a call emitted twice in one batch: its newest version
        if not latest:
            return 0
        now = utcnow()
        order = sorted(latest)  # every writer locks and inserts in id order: no deadlock between them
        with self.session() as s:
            locked = (
                select(ProbeRun)
                .where(ProbeRun.id.in_(order))
                .order_by(ProbeRun.id)
                .with_for_update()
            )
            stored = {row.id: row for row in s.scalars(locked)}
            for run_id, row in stored.items():
                run, joined = latest[run_id], row.joined_run_id
                for f in _RUN_FIELDS:
                    setattr(row, f, getattr(run, f))
                row.joined_run_id = row.joined_run_id or joined
                row.finished_at = row.finished_at or now
            if stored:
                s.flush()
                s.execute(delete(Turn).where(Turn.run_id.in_(sorted(stored))))
            fresh = [
                {**{f: getattr(r, f) for f in _RUN_FIELDS}, "finished_at": r.finished_at or now}
                for r in (latest[i] for i in order)
                if r.id not in stored
            ]
            conn = s.connection()
            # COPY on PostgreSQL: a busy collector replaces hundreds of calls a second, and one
            # INSERT per row (what executemany sends) costs the database more than the rest.
            copy_rows(conn, _RUNS, fresh)
            copy_rows(
                conn, _TURNS, [self._turn_values(latest[i], t) for i in order for t in latest[i].turns]
            )
            insert_spans(conn, _SPANS, _spans_of([latest[i] for i in order]))
        return len(stored)

    def _run_exists(self, run_id: str) -> bool:
        with self.session() as s:
            return s.get(ProbeRun, run_id) is not None

    @staticmethod
    def _turn_values(run: RunResult, turn: TurnResult) -> dict[str, object]:
        """A turn's column values: its own measures and what it copies from its run."""
        return {
            **{f: getattr(turn, f) for f in _TURN_FIELDS},
            "run_id": run.id,
            "started_at": turn.started_at or run.started_at,
            "probe_name": run.probe_name,
            "target_url": run.target_url,
            "region": run.region,
            "source": run.source,
            "framework": run.framework,
            "service": run.service,
        }

    @classmethod
    def _turn_row(cls, run: RunResult, turn: TurnResult) -> Turn:
        values = cls._turn_values(run, turn)
        del values["run_id"]  # set by the relationship (save_run) or by the caller
        return Turn(**values)

    def save_spans(self, spans: Sequence[SpanRecord]) -> int:
        """Save spans that arrive apart from a run (pipeline servers, late exporters).

        Spans already stored (same trace and span id) are skipped, so an
        exporter may retry a batch safely. Returns how many were new. The
        same bulk statement as :meth:`save_spans_bulk`.
        """
        return self.save_spans_bulk(spans)

    def save_spans_bulk(self, spans: Sequence[SpanRecord]) -> int:
        """Save a batch of spans in one bulk statement; returns how many were new.

        The collector writes thousands of spans a second, which one ORM
        object per span cannot keep up with: PostgreSQL takes the batch
        through COPY, SQLite through one multi-row INSERT
        (``voiceobs.store.bulk``). Idempotent on (trace id, span id): a
        replayed batch, a retried export or two copies of one span in one
        batch store each span once.
        """
        if not spans:
            return 0
        with self.session() as s:
            return insert_spans(s.connection(), _SPANS, spans)

    def get_run(self, run_id: str) -> ProbeRun | None:
        """One run with its turns loaded (detached, safe to read after the session)."""
        with self.session() as s:
            return s.scalar(
                select(ProbeRun).options(selectinload(ProbeRun.turns)).where(ProbeRun.id == run_id)
            )

    def list_runs(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        probe: str | None = None,
        target: str | None = None,
        region: str | None = None,
        status: str | None = None,
        source: str | None = None,
        with_turns: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> list[ProbeRun]:
        """Runs newest first, filtered; their turns are loaded only ``with_turns``."""
        q = select(ProbeRun).order_by(ProbeRun.started_at.desc()).limit(limit).offset(offset)
        q = where_runs(
            q, ProbeRun, since=since, until=until, probe=probe, target=target, region=region
        )
        if status:
            q = q.where(ProbeRun.status == status)
        if source:
            q = q.where(ProbeRun.source == source)
        if with_turns:
            q = q.options(selectinload(ProbeRun.turns))
        with self.session() as s:
            return list(s.scalars(q))

    def find_run(self, id_or_prefix: str) -> ProbeRun | None:
        """A run by its id or an unambiguous prefix of it (at least 6 characters), turns loaded.

        Raises ``StoreError`` when a prefix matches more than one run, so a
        person never reads the wrong call.
        """
        run = self.get_run(id_or_prefix)
        if run is not None or len(id_or_prefix) < 6:
            return run
        q = select(ProbeRun.id).where(ProbeRun.id.like(f"{id_or_prefix}%")).limit(2)
        with self.session() as s:
            ids = list(s.scalars(q))
        if len(ids) > 1:
            raise StoreError(f"{id_or_prefix!r} matches several calls; give more of the id")
        return self.get_run(ids[0]) if ids else None

    def query_turns(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        probe: str | None = None,
        target: str | None = None,
        region: str | None = None,
        limit: int | None = 10_000,
    ) -> list[Turn]:
        """Turns in ``[since, until)`` newest first, filtered by probe, target and region.

        Served by the (column, started_at) indexes; aggregate queries belong in
        the SLO engine, this is for listing and drill-down.
        """
        q = select(Turn).order_by(Turn.started_at.desc())
        q = where_runs(q, Turn, since=since, until=until, probe=probe, target=target, region=region)
        if limit is not None:
            q = q.limit(limit)
        with self.session() as s:
            return list(s.scalars(q))

    def spans_for_run(self, run_id: str) -> list[Span]:
        """Every span of the run's trace, probe and pipeline alike, in start order."""
        with self.session() as s:
            trace_id = s.scalar(select(ProbeRun.trace_id).where(ProbeRun.id == run_id))
            cond = Span.run_id == run_id
            if trace_id:
                cond = cond | (Span.trace_id == trace_id)
            return list(s.scalars(select(Span).where(cond).order_by(Span.start_ns)))

    def count_runs(self, source: str | None = None) -> int:
        """How many runs are stored, of one source if given (used to prove nothing was lost)."""
        q = select(func.count()).select_from(ProbeRun)
        if source:
            q = q.where(ProbeRun.source == source)
        with self.session() as s:
            return int(s.scalar(q) or 0)

    def count_joined_runs(self) -> int:
        """Production calls joined with the probe call that placed them."""
        q = (
            select(func.count())
            .select_from(ProbeRun)
            .where(ProbeRun.source == "production", ProbeRun.joined_run_id.is_not(None))
        )
        with self.session() as s:
            return int(s.scalar(q) or 0)


__all__ = ["RunsMixin"]
