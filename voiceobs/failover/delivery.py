"""Delivering a hook: retries with exponential backoff, and a record of every attempt.

The audit trail is what an SRE reads after an incident ("did the page go
out? when? what did the target answer?"), so each attempt is written to the
store as it happens, not summarised at the end. A failure to write the audit
row is logged and does not stop the delivery.

Delivery is at least once, as Alertmanager's is. A pass holds the claim's
lease while it tries (``retries`` + 1 attempts, waiting ``backoff``, doubling,
between them); if every attempt fails, the claim goes back to pending and a
later pass tries again once the same backoff sequence allows, until the
claim's give-up time. A pass killed mid-delivery leaves its lease to expire,
and the next pass takes over and records the cut-off attempt as
``interrupted``. Each retry carries the claim's idempotency key, so a
receiver that got an attempt whose answer was lost drops the repeat.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from voiceobs.errors import VoiceObsError
from voiceobs.failover.actions import attempt, describe
from voiceobs.failover.payload import Notification, iso
from voiceobs.failover.spec import Hook, format_duration
from voiceobs.results import utcnow
from voiceobs.store import HookLease, Store

#: Seconds a lease outlasts the longest a pass can spend on one delivery (every attempt timing
#: out, every backoff wait), for the audit writes around them on a busy store.
LEASE_MARGIN = 10.0

log = logging.getLogger("voiceobs.failover")


@dataclass
class Delivery:
    """How one hook delivery ended (the last attempt's outcome) and how many tries it took."""

    hook: str
    action: str
    event: str
    incident_id: int | None
    outcome: str  # ok | failed | timeout | dry_run | suppressed | given_up
    attempts: int = 0
    response_code: int | None = None
    error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    # Where the claim stands after this pass: delivered | pending (a later pass retries) |
    # given_up | suppressed; empty for a manual trigger, which has no claim.
    state: str = ""
    next_attempt_at: datetime | None = None
    give_up_at: datetime | None = None
    idempotency_key: str = ""

    @property
    def ok(self) -> bool:
        """True for a delivery that did what was asked (or, in a dry run, would have)."""
        return self.outcome in ("ok", "dry_run", "suppressed")

    @property
    def given_up(self) -> bool:
        """True when this pass gave the delivery up: nobody will try it again."""
        return self.state == "given_up"

    def to_json(self) -> dict[str, Any]:
        """For ``--json`` output and the dashboard."""
        return {
            "hook": self.hook,
            "action": self.action,
            "event": self.event,
            "incident_id": self.incident_id,
            "outcome": self.outcome,
            "attempts": self.attempts,
            "response_code": self.response_code,
            "error": self.error,
            "state": self.state or None,
            "next_attempt_at": iso(self.next_attempt_at) if self.next_attempt_at else None,
            "give_up_at": iso(self.give_up_at) if self.give_up_at else None,
            "idempotency_key": self.idempotency_key or None,
        }


def backoff_delay(hook: Hook, attempt_no: int) -> float:
    """Seconds to wait after failed attempt ``attempt_no`` (1-based): backoff * 2^(n-1), capped."""
    return float(min(hook.backoff_max, hook.backoff * (2 ** (attempt_no - 1))))


def lease_seconds(hook: Hook) -> float:
    """How long a pass holds a claim: the longest its attempts and waits can take, plus a margin."""
    waits = sum(backoff_delay(hook, n) for n in range(1, hook.retries + 1))
    return (hook.retries + 1) * hook.timeout + waits + LEASE_MARGIN


def _record(store: Store, **kwargs: Any) -> None:
    try:
        store.record_delivery(**kwargs)
    except VoiceObsError as exc:
        log.warning("could not record delivery of hook %s: %s", kwargs.get("hook_name"), exc)


def record_only(
    store: Store,
    hook: Hook,
    note: Notification,
    *,
    outcome: str,
    error: str | None,
    actor: str,
    dry: bool,
) -> Delivery:
    """Record a delivery that was decided without attempting it (dry run, cooldown)."""
    detail = {**describe(hook, note), "dry_run": dry}
    _record(
        store,
        hook_name=hook.name,
        action=hook.action,
        event=note.event,
        outcome=outcome,
        incident_id=note.incident_id,
        attempt=0 if outcome == "suppressed" else 1,
        error=error,
        actor=actor,
        detail=detail,
    )
    return Delivery(hook.name, hook.action, note.event, note.incident_id, outcome, 0, error=error,
                    detail=detail, idempotency_key=note.idempotency_key)  # fmt: skip


def deliver(
    store: Store,
    hook: Hook,
    note: Notification,
    *,
    actor: str = "voiceobs",
    dry_run: bool = False,
    stop: threading.Event | None = None,
    first_attempt: int = 1,
) -> Delivery:
    """Deliver once, retrying what may pass (timeouts, 5xx, refused connections).

    Every attempt is recorded, numbered from ``first_attempt`` (a later pass
    continues the count). ``stop`` (set on SIGTERM) cuts the backoff wait
    short so a shutting-down evaluator exits promptly; the delivery is then
    recorded as failed with the reason.
    """
    if dry_run or hook.dry_run:
        return record_only(store, hook, note, outcome="dry_run", error=None, actor=actor, dry=True)
    stop = stop or threading.Event()
    total = hook.retries + 1
    result = Delivery(hook.name, hook.action, note.event, note.incident_id, "failed",
                      idempotency_key=note.idempotency_key)  # fmt: skip
    for n in range(1, total + 1):
        outcome, ms = attempt(hook, note)
        result.attempts = n
        result.outcome = outcome.outcome
        result.response_code = outcome.response_code
        result.error = outcome.error
        result.detail = outcome.detail
        _record(
            store,
            hook_name=hook.name,
            action=hook.action,
            event=note.event,
            outcome=outcome.outcome,
            incident_id=note.incident_id,
            attempt=first_attempt + n - 1,
            response_code=outcome.response_code,
            error=outcome.error,
            duration_ms=round(ms, 3),
            actor=actor,
            detail={**outcome.detail, "status": note.status},
        )
        if outcome.outcome == "ok":
            return result
        log.warning(
            "hook %s (%s) attempt %d/%d: %s", hook.name, hook.action, n, total, outcome.error
        )
        if not outcome.retryable or n == total:
            break
        if stop.wait(backoff_delay(hook, first_attempt + n - 1)):
            result.error = f"{result.error}; gave up retrying: shutting down"
            break
    return result


# -- a delivery under a claim's lease ---------------------------------------------------------


def _claim_fields(result: Delivery, lease: HookLease) -> Delivery:
    result.give_up_at = lease.claim.give_up_at
    result.idempotency_key = lease.claim.idempotency_key
    return result


def record_interrupted(store: Store, hook: Hook, note: Notification, lease: HookLease) -> None:
    """Write the audit row a killed deliverer never could: its attempt was cut off."""
    seen = lease.interrupted
    if seen is None:
        return
    until = iso(seen.lease_until) if seen.lease_until else "unknown"
    error = (
        f"{seen.claimed_by or 'an evaluator'} stopped during this attempt (lease ran out {until})"
    )
    log.warning("hook %s (%s) %s incident %s: %s", hook.name, hook.action, note.event,
                note.incident_id, error)  # fmt: skip
    _record(
        store, hook_name=hook.name, action=hook.action, event=note.event, outcome="interrupted",
        incident_id=note.incident_id, attempt=seen.attempts + 1, error=error,
        actor=seen.claimed_by, detail={"status": note.status},
    )  # fmt: skip


def give_up(
    store: Store,
    hook: Hook,
    note: Notification,
    lease: HookLease,
    *,
    actor: str,
    reason: str,
    attempts: int = 0,
    last: Delivery | None = None,
) -> Delivery:
    """End a claim that will never be delivered, with the reason in its audit trail."""
    claim = lease.claim
    total = claim.attempts + attempts
    error = f"given up after {total} attempt{'s' if total != 1 else ''}: {reason}"
    last_error = last.error if last is not None else claim.last_error
    if last_error:
        error += f"; last error: {last_error}"
    result = last or Delivery(hook.name, hook.action, note.event, note.incident_id, "given_up")
    _claim_fields(result, lease)
    if not store.finish_hook_lease(
        claim.id, lease.token, state="given_up", attempts=attempts, error=error
    ):
        result.state = "pending"  # our lease ran out and another pass holds it: its call
        return result
    _record(
        store, hook_name=hook.name, action=hook.action, event=note.event, outcome="given_up",
        incident_id=note.incident_id, attempt=total, error=error, actor=actor,
        detail={"status": note.status, "give_up_at": iso(claim.give_up_at)
                if claim.give_up_at else None},
    )  # fmt: skip
    log.error("hook %s (%s) %s incident %s: %s", hook.name, hook.action, note.event,
              note.incident_id, error)  # fmt: skip
    result.error = error
    result.state = "given_up"
    return result


def settle(
    store: Store,
    hook: Hook,
    note: Notification,
    lease: HookLease,
    result: Delivery,
    *,
    actor: str,
    stopped: bool = False,
    now: datetime | None = None,
) -> Delivery:
    """Write how a leased delivery ended into its claim: delivered, pending again, or given up.

    A failure is retried by a later pass after the next backoff step (every
    failure: a 4xx or a missing secret may be fixed before the give-up time,
    and Alertmanager retries those too). A pass that is shutting down hands
    the claim back due at once, so the next pass need not wait for the lease.
    """
    claim = lease.claim
    when = now or utcnow()
    _claim_fields(result, lease)
    if result.ok:
        store.finish_hook_lease(claim.id, lease.token, state="delivered", attempts=result.attempts)
        result.state = "delivered"
        return result
    total = claim.attempts + result.attempts
    if not stopped and claim.give_up_at is not None and when >= claim.give_up_at:
        reason = f"not delivered within give_up_after ({format_duration(hook.give_up_after)})"
        return give_up(store, hook, note, lease, actor=actor, reason=reason,
                       attempts=result.attempts, last=result)  # fmt: skip
    retry_at = when if stopped else when + timedelta(seconds=backoff_delay(hook, total))
    if claim.give_up_at is not None:
        retry_at = min(retry_at, claim.give_up_at)
    store.release_hook_lease(
        claim.id, lease.token, attempts=result.attempts, next_attempt_at=retry_at,
        error=result.error,
    )  # fmt: skip
    result.state = "pending"
    result.next_attempt_at = retry_at
    return result


__all__ = [
    "LEASE_MARGIN",
    "Delivery",
    "backoff_delay",
    "deliver",
    "give_up",
    "lease_seconds",
    "record_interrupted",
    "record_only",
    "settle",
]
