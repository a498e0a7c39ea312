"""The store's operations: everything the rest of voiceobs reads and writes goes through here.

``Store`` is the only place that builds SQL, so both backends get the same
semantics: a run is saved with its turns and spans in one transaction (and
saving it again is a no-op, which makes spool replay safe), and incident
uniqueness is enforced by constraints rather than by whichever process
happens to be running.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from voiceobs.errors import StoreError
from voiceobs.results import RunResult, SpanRecord, TurnResult, utcnow
from voiceobs.store.engine import make_engine, redact_url, translate_db_error
from voiceobs.store.filters import where_runs
from voiceobs.store.models import (
    HookClaim,
    HookDelivery,
    Incident,
    IncidentAction,
    ProbeRun,
    SloEvaluation,
    Span,
    Turn,
)

# Column lists follow the result dataclasses, so a field added there is stored
# without a second list to keep in step (the models test catches a missing column).
_TURN_FIELDS = [f.name for f in fields(TurnResult) if f.name != "started_at"]
_RUN_FIELDS = [f.name for f in fields(RunResult) if f.name not in ("turns", "spans")]
_SPAN_FIELDS = [f.name for f in fields(SpanRecord)]


#: Claim states after which nobody delivers again.
FINAL_CLAIM_STATES = ("delivered", "given_up", "suppressed")


def claim_due(claim: HookClaim, now: datetime) -> bool:
    """True when a pass may take this claim now (the same test the store's UPDATE makes)."""
    if claim.state == "pending":
        return claim.next_attempt_at is None or claim.next_attempt_at <= now
    if claim.state == "delivering":
        return claim.lease_until is None or claim.lease_until < now
    return False


def _due_clause(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(
            HookClaim.state == "pending",
            or_(HookClaim.next_attempt_at.is_(None), HookClaim.next_attempt_at <= now),
        ),
        and_(
            HookClaim.state == "delivering",
            or_(HookClaim.lease_until.is_(None), HookClaim.lease_until < now),
        ),
    )


@dataclass(frozen=True)
class HookLease:
    """The right to deliver one hook event until ``claim.lease_until``.

    ``token`` proves the holder when it releases or finishes the claim;
    ``interrupted`` is the claim as it was when its previous holder's lease
    had run out mid-delivery (that attempt's outcome was never recorded).
    """

    claim: HookClaim
    token: str
    interrupted: HookClaim | None


@dataclass(frozen=True)
class StoreStatus:
    """What `voiceobs db status` prints: where the store is and what it holds."""

    url: str
    backend: str
    revision: str | None
    head: str | None
    counts: dict[str, int]

    @property
    def up_to_date(self) -> bool:
        """True when the schema is at the revision this voiceobs ships."""
        return self.revision is not None and self.revision == self.head


class Store:
    """A handle on one result store (SQLite file or PostgreSQL database)."""

    def __init__(self, engine: Engine, url: str | None = None) -> None:
        self.engine = engine
        self.url = url or engine.url.render_as_string(hide_password=False)
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str, *, create: bool = False, check_schema: bool = True) -> Store:
        """Open the store at ``url``.

        ``create`` brings a new or old store to the current schema (migrations);
        otherwise a store at the wrong schema raises ``SchemaMismatch`` with
        the command that fixes it.
        """
        from voiceobs.store import migrations

        store = cls(make_engine(url), url)
        if create:
            migrations.upgrade(store.engine)
        elif check_schema:
            migrations.check(store.engine, url)
        return store

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @property
    def display_url(self) -> str:
        """The URL with its password hidden, for messages."""
        return redact_url(self.url)

    def close(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on error, errors made one-line."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except SQLAlchemyError as exc:
            session.rollback()
            raise translate_db_error(exc, self.url) from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    # -- probe results -------------------------------------------------------------------

    def save_run(self, run: RunResult) -> bool:
        """Save a run with its turns and spans in one transaction.

        Returns False (and changes nothing) when a run with this id is already
        stored, so replaying a spool after a partial failure never duplicates.
        """
        row = ProbeRun(**{f: getattr(run, f) for f in _RUN_FIELDS})
        if row.finished_at is None:
            row.finished_at = utcnow()
        for turn in run.turns:
            row.turns.append(self._turn_row(run, turn))
        spans = [Span(**{f: getattr(s, f) for f in _SPAN_FIELDS}) for s in run.spans]
        for span in spans:
            span.run_id = span.run_id or run.id
        try:
            with self.session() as s:
                s.add(row)
                s.flush()  # the run insert comes first: a duplicate id fails here
                s.add_all(spans)
        except StoreError as exc:
            if isinstance(exc.__cause__, IntegrityError) and self._run_exists(run.id):
                return False
            raise
        return True

    def _run_exists(self, run_id: str) -> bool:
        with self.session() as s:
            return s.get(ProbeRun, run_id) is not None

    @staticmethod
    def _turn_row(run: RunResult, turn: TurnResult) -> Turn:
        values = {f: getattr(turn, f) for f in _TURN_FIELDS}
        return Turn(
            **values,
            started_at=turn.started_at or run.started_at,
            probe_name=run.probe_name,
            target_url=run.target_url,
            region=run.region,
        )

    def save_spans(self, spans: Sequence[SpanRecord]) -> int:
        """Save spans that arrive apart from a run (pipeline servers, late exporters).

        Spans already stored (same trace and span id) are skipped, so an
        exporter may retry a batch safely. Returns how many were new.
        """
        if not spans:
            return 0
        keys = {(s.trace_id, s.span_id) for s in spans}
        with self.session() as s:
            trace_ids = {k[0] for k in keys}
            rows = s.execute(
                select(Span.trace_id, Span.span_id).where(Span.trace_id.in_(trace_ids))
            )
            existing = {(r[0], r[1]) for r in rows}
            new = [x for x in spans if (x.trace_id, x.span_id) not in existing]
            seen: set[tuple[str, str]] = set()
            for x in new:
                if (x.trace_id, x.span_id) in seen:
                    continue
                seen.add((x.trace_id, x.span_id))
                s.add(Span(**{f: getattr(x, f) for f in _SPAN_FIELDS}))
        return len(seen)

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
        limit: int = 100,
        offset: int = 0,
    ) -> list[ProbeRun]:
        """Runs newest first, filtered; turns are not loaded."""
        q = select(ProbeRun).order_by(ProbeRun.started_at.desc()).limit(limit).offset(offset)
        q = where_runs(q, ProbeRun, since=since, until=until, probe=probe, target=target, region=region)
        if status:
            q = q.where(ProbeRun.status == status)
        with self.session() as s:
            return list(s.scalars(q))

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

    def count_runs(self) -> int:
        """How many runs are stored (used to prove nothing was lost)."""
        with self.session() as s:
            return int(s.scalar(select(func.count()).select_from(ProbeRun)) or 0)

    # -- SLO evaluations -------------------------------------------------------------------

    def record_evaluation(
        self,
        *,
        slo_name: str,
        window: str,
        objective: float,
        good: int,
        total: int,
        sli: float | None,
        budget_remaining: float | None,
        burn_rates: dict[str, float | None],
        alert_state: str,
        evaluated_at: datetime | None = None,
    ) -> int:
        """Append one evaluation; the dashboard draws budget and burn from these rows."""
        row = SloEvaluation(
            slo_name=slo_name,
            window=window,
            objective=objective,
            good=good,
            total=total,
            sli=sli,
            budget_remaining=budget_remaining,
            burn_rates=burn_rates,
            alert_state=alert_state,
            evaluated_at=evaluated_at or utcnow(),
        )
        with self.session() as s:
            s.add(row)
        return row.id

    def evaluations(
        self, slo_name: str | None = None, *, since: datetime | None = None, limit: int = 10_000
    ) -> list[SloEvaluation]:
        """Evaluations oldest first, for burn-down charts."""
        q = select(SloEvaluation).order_by(SloEvaluation.evaluated_at)
        if slo_name:
            q = q.where(SloEvaluation.slo_name == slo_name)
        if since:
            q = q.where(SloEvaluation.evaluated_at >= since)
        with self.session() as s:
            return list(s.scalars(q.limit(limit)))

    def latest_evaluations(self) -> list[SloEvaluation]:
        """The newest evaluation of every SLO."""
        latest = (
            select(SloEvaluation.slo_name, func.max(SloEvaluation.id).label("id"))
            .group_by(SloEvaluation.slo_name)
            .subquery()
        )
        q = select(SloEvaluation).join(latest, SloEvaluation.id == latest.c.id)
        with self.session() as s:
            return list(s.scalars(q.order_by(SloEvaluation.slo_name)))

    # -- incidents -------------------------------------------------------------------------

    def open_incident(
        self,
        slo_name: str,
        severity: str,
        *,
        summary: str = "",
        labels: dict[str, Any] | None = None,
        opened_at: datetime | None = None,
    ) -> tuple[Incident, bool]:
        """Open an incident unless one is already open for this SLO and severity.

        Returns ``(incident, created)``. Safe under racing evaluators: the
        loser of the insert race gets the winner's incident and ``created=False``.
        """
        key = f"{slo_name}|{severity}"
        row = Incident(
            slo_name=slo_name,
            severity=severity,
            state="open",
            open_key=key,
            summary=summary,
            labels=labels or {},
            opened_at=opened_at or utcnow(),
        )
        try:
            with self.session() as s:
                s.add(row)
            return row, True
        except StoreError as exc:
            if not isinstance(exc.__cause__, IntegrityError):
                raise
        existing = self.open_incident_for(slo_name, severity)
        if existing is None:  # resolved between our insert and this read: try once more
            return self.open_incident(
                slo_name, severity, summary=summary, labels=labels, opened_at=opened_at
            )
        return existing, False

    def open_incident_for(self, slo_name: str, severity: str) -> Incident | None:
        """The open incident of an SLO and severity, if any."""
        with self.session() as s:
            return s.scalar(select(Incident).where(Incident.open_key == f"{slo_name}|{severity}"))

    def resolve_incident(
        self, incident_id: int, *, by: str = "voiceobs", at: datetime | None = None, note: str = ""
    ) -> bool:
        """Resolve an open incident; returns False when it was already resolved (by a racer)."""
        when = at or utcnow()
        with self.session() as s:
            result = s.execute(
                update(Incident)
                .where(Incident.id == incident_id, Incident.open_key.is_not(None))
                .values(state="resolved", open_key=None, resolved_at=when, resolved_by=by)
            )
            changed = bool(getattr(result, "rowcount", 0))
            if changed:
                s.add(
                    IncidentAction(
                        incident_id=incident_id, action="resolve", actor=by, at=when, note=note
                    )
                )
        return changed

    def acknowledge_incident(self, incident_id: int, *, by: str, note: str = "") -> bool:
        """Mark an open incident acknowledged by a person; False if not open."""
        when = utcnow()
        with self.session() as s:
            result = s.execute(
                update(Incident)
                .where(Incident.id == incident_id, Incident.open_key.is_not(None))
                .values(state="acknowledged", acknowledged_at=when, acknowledged_by=by)
            )
            changed = bool(getattr(result, "rowcount", 0))
            if changed:
                s.add(
                    IncidentAction(
                        incident_id=incident_id, action="acknowledge", actor=by, at=when, note=note
                    )
                )
        return changed

    def record_action(self, incident_id: int, action: str, *, by: str, note: str = "") -> None:
        """Record a person's action on an incident (e.g. a manual hook trigger)."""
        with self.session() as s:
            s.add(
                IncidentAction(
                    incident_id=incident_id, action=action, actor=by, at=utcnow(), note=note
                )
            )

    def get_incident(self, incident_id: int) -> Incident | None:
        """One incident by id."""
        with self.session() as s:
            return s.get(Incident, incident_id)

    def list_incidents(self, *, open_only: bool = False, limit: int = 200) -> list[Incident]:
        """Incidents newest first."""
        q = select(Incident).order_by(Incident.opened_at.desc(), Incident.id.desc()).limit(limit)
        if open_only:
            q = q.where(Incident.open_key.is_not(None))
        with self.session() as s:
            return list(s.scalars(q))

    def incident_actions(self, incident_id: int) -> list[IncidentAction]:
        """Who did what to an incident, oldest first."""
        with self.session() as s:
            return list(
                s.scalars(
                    select(IncidentAction)
                    .where(IncidentAction.incident_id == incident_id)
                    .order_by(IncidentAction.at, IncidentAction.id)
                )
            )

    # -- hooks -----------------------------------------------------------------------------

    def claim_hook(
        self, incident_id: int, hook_name: str, event: str, *, by: str = "",
        lease_seconds: float = 300.0,
    ) -> bool:  # fmt: skip
        """Take the right to fire ``hook_name`` for this incident event now.

        True for exactly one caller across every process and host sharing the
        store while the claim is held; everyone else gets False and must not
        deliver. ``take_hook_lease`` is the full form (lease token, idempotency key).
        """
        lease = self.take_hook_lease(
            incident_id, hook_name, event, by=by, lease_seconds=lease_seconds
        )
        return lease is not None

    # -- hook delivery claims: at-least-once with a lease -------------------------------

    def take_hook_lease(
        self,
        incident_id: int,
        hook_name: str,
        event: str,
        *,
        by: str = "",
        lease_seconds: float,
        give_up_at: datetime | None = None,
        now: datetime | None = None,
    ) -> HookLease | None:
        """Become the one deliverer of this hook event, for ``lease_seconds``; None if not now.

        The first caller creates the claim already leased to itself (a unique
        insert). Later callers get the lease only if the claim is due: pending
        and past its ``next_attempt_at``, or delivering under a lease that has
        expired (its holder died mid-delivery). Taking it is one conditional
        UPDATE, so among racing processes on any backend exactly one wins.
        ``give_up_at`` only applies to a claim this call creates.
        """
        when = now or utcnow()
        token = uuid.uuid4().hex
        until = when + timedelta(seconds=lease_seconds)
        who = by or socket.gethostname()
        row = HookClaim(
            incident_id=incident_id, hook_name=hook_name, event=event, claimed_at=when,
            claimed_by=who, state="delivering", attempts=0,
            idempotency_key=str(uuid.uuid4()), next_attempt_at=when, lease_until=until,
            lease_token=token, give_up_at=give_up_at,
        )  # fmt: skip
        try:
            with self.session() as s:
                s.add(row)
            return HookLease(row, token, None)
        except StoreError as exc:
            if not isinstance(exc.__cause__, IntegrityError):
                raise
        # The claim exists. Read it, then take it with an UPDATE whose WHERE repeats what was
        # read and that it is due: a racer that got there first changes the row and makes the
        # WHERE false, so the loser's UPDATE matches nothing. (Read and write are separate
        # transactions on purpose: SQLite writers must not read first.)
        seen = self._claim(incident_id, hook_name, event)
        if seen is None or not claim_due(seen, when):
            return None
        interrupted = seen.state == "delivering"
        with self.session() as s:
            result = s.execute(
                update(HookClaim)
                .where(
                    HookClaim.id == seen.id,
                    HookClaim.state == seen.state,
                    HookClaim.lease_token.is_not_distinct_from(seen.lease_token),
                    _due_clause(when),
                )
                .values(
                    state="delivering",
                    lease_until=until,
                    lease_token=token,
                    claimed_by=who,
                    # The attempt that was in flight when its deliverer died counts.
                    attempts=HookClaim.attempts + (1 if interrupted else 0),
                )
            )
            if not getattr(result, "rowcount", 0):
                return None
        taken = self._claim(incident_id, hook_name, event)
        if taken is None or taken.lease_token != token:
            return None
        return HookLease(taken, token, seen if interrupted else None)

    def release_hook_lease(
        self,
        claim_id: int,
        token: str,
        *,
        attempts: int,
        next_attempt_at: datetime,
        error: str | None,
    ) -> bool:
        """Give a failed delivery back as pending, to be retried after ``next_attempt_at``.

        Only the lease holder can release; False when the lease was lost (it
        expired and another process took over, which then owns the outcome).
        """
        with self.session() as s:
            result = s.execute(
                update(HookClaim)
                .where(
                    HookClaim.id == claim_id,
                    HookClaim.lease_token == token,
                    HookClaim.state == "delivering",
                )
                .values(
                    state="pending",
                    lease_until=None,
                    lease_token=None,
                    next_attempt_at=next_attempt_at,
                    last_error=error,
                    attempts=HookClaim.attempts + attempts,
                )
            )
            return bool(getattr(result, "rowcount", 0))

    def finish_hook_lease(
        self,
        claim_id: int,
        token: str,
        *,
        state: str,
        attempts: int,
        error: str | None = None,
        now: datetime | None = None,
    ) -> bool:
        """End a claim: ``delivered``, ``given_up`` or ``suppressed``.

        A success is recorded even by a holder whose lease has lapsed (the
        receiver did get it); giving up needs the lease, so a process that
        lost it cannot end a delivery another process is still retrying.
        """
        if state not in FINAL_CLAIM_STATES:
            raise ValueError(f"{state!r} is not a final claim state")
        cond = (
            HookClaim.state.in_(("pending", "delivering", "given_up"))
            if state == "delivered"
            else (HookClaim.lease_token == token) & (HookClaim.state == "delivering")
        )
        with self.session() as s:
            result = s.execute(
                update(HookClaim)
                .where(HookClaim.id == claim_id, cond)
                .values(
                    state=state,
                    lease_until=None,
                    lease_token=None,
                    next_attempt_at=None,
                    finished_at=now or utcnow(),
                    last_error=error,
                    attempts=HookClaim.attempts + attempts,
                )
            )
            return bool(getattr(result, "rowcount", 0))

    def _claim(self, incident_id: int, hook_name: str, event: str) -> HookClaim | None:
        with self.session() as s:
            return s.scalar(
                select(HookClaim).where(
                    HookClaim.incident_id == incident_id,
                    HookClaim.hook_name == hook_name,
                    HookClaim.event == event,
                )
            )

    def hook_claims(
        self,
        incident_id: int | None = None,
        *,
        states: Sequence[str] | None = None,
        limit: int = 1000,
    ) -> list[HookClaim]:
        """Delivery claims oldest first, for one incident or all, optionally by state."""
        q = select(HookClaim).order_by(HookClaim.claimed_at, HookClaim.id).limit(limit)
        if incident_id is not None:
            q = q.where(HookClaim.incident_id == incident_id)
        if states:
            q = q.where(HookClaim.state.in_(list(states)))
        with self.session() as s:
            return list(s.scalars(q))

    def due_hook_claims(self, *, now: datetime | None = None, limit: int = 500) -> list[HookClaim]:
        """Claims a pass should try again now: pending and due, or under an expired lease."""
        q = (
            select(HookClaim)
            .where(_due_clause(now or utcnow()))
            .order_by(HookClaim.next_attempt_at, HookClaim.id)
            .limit(limit)
        )
        with self.session() as s:
            return list(s.scalars(q))

    def hook_claim_counts(self, incident_ids: Sequence[int]) -> dict[int, dict[str, int]]:
        """How many claims of each state every incident has (``incident list`` shows them)."""
        if not incident_ids:
            return {}
        q = (
            select(HookClaim.incident_id, HookClaim.state, func.count())
            .where(HookClaim.incident_id.in_(list(incident_ids)))
            .group_by(HookClaim.incident_id, HookClaim.state)
        )
        out: dict[int, dict[str, int]] = {}
        with self.session() as s:
            for incident_id, state, count in s.execute(q):
                out.setdefault(int(incident_id), {})[str(state)] = int(count)
        return out

    def record_delivery(
        self,
        *,
        hook_name: str,
        action: str,
        event: str,
        outcome: str,
        incident_id: int | None = None,
        attempt: int = 1,
        response_code: int | None = None,
        error: str | None = None,
        duration_ms: float | None = None,
        actor: str = "",
        detail: dict[str, Any] | None = None,
    ) -> int:
        """Append one delivery attempt to the audit trail."""
        row = HookDelivery(
            incident_id=incident_id,
            hook_name=hook_name,
            action=action,
            event=event,
            attempt=attempt,
            attempted_at=utcnow(),
            outcome=outcome,
            response_code=response_code,
            error=error,
            duration_ms=duration_ms,
            actor=actor,
            detail=detail or {},
        )
        with self.session() as s:
            s.add(row)
        return row.id

    def deliveries(
        self, incident_id: int | None = None, *, limit: int = 1000
    ) -> list[HookDelivery]:
        """Delivery attempts oldest first, for one incident or all."""
        q = select(HookDelivery).order_by(HookDelivery.attempted_at, HookDelivery.id).limit(limit)
        if incident_id is not None:
            q = q.where(HookDelivery.incident_id == incident_id)
        with self.session() as s:
            return list(s.scalars(q))

    # -- status ----------------------------------------------------------------------------

    def status(self) -> StoreStatus:
        """Where the store is, its schema revision, and how many rows each table holds."""
        from voiceobs.store import migrations

        revision = migrations.current_revision(self.engine)
        migrations.refuse_newer(self.engine, revision)
        counts: dict[str, int] = {}
        if revision is not None:
            with self.session() as s:
                for model in (ProbeRun, Turn, Span, SloEvaluation, Incident, HookDelivery):
                    counts[str(model.__tablename__)] = int(
                        s.scalar(select(func.count()).select_from(model)) or 0
                    )
        return StoreStatus(
            url=self.display_url,
            backend=self.backend,
            revision=revision,
            head=migrations.head_revision(),
            counts=counts,
        )


__all__ = [
    "FINAL_CLAIM_STATES",
    "HookLease",
    "Store",
    "StoreStatus",
    "claim_due",
    "translate_db_error",
]
