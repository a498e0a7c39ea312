"""Hook delivery claims and their audit trail: at-least-once delivery with a lease, across hosts.

One claim per (incident, hook, event) is a unique row; whoever holds its
lease delivers, and a lease that runs out (its holder was killed) can be
taken by the next pass. The test for "may a pass take this claim now" is
written twice on purpose, in Python (``claim_due``) and in SQL
(``_due_clause``), and both must agree.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from voiceobs.errors import StoreError
from voiceobs.results import utcnow
from voiceobs.store.base import StoreBase
from voiceobs.store.models import HookClaim, HookDelivery

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


class HookClaimsMixin(StoreBase):
    """Claiming, leasing and finishing hook deliveries; the audit trail of attempts."""

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


__all__ = ["FINAL_CLAIM_STATES", "HookClaimsMixin", "HookLease", "claim_due"]
