"""Delivering a hook: retries with exponential backoff, and a record of every attempt.

The audit trail is what an SRE reads after an incident ("did the page go
out? when? what did the target answer?"), so each attempt is written to the
store as it happens, not summarised at the end. A failure to write the audit
row is logged and does not stop the delivery.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from voiceobs.errors import VoiceObsError
from voiceobs.failover.actions import attempt, describe
from voiceobs.failover.payload import Notification
from voiceobs.failover.spec import Hook
from voiceobs.store import Store

log = logging.getLogger("voiceobs.failover")


@dataclass
class Delivery:
    """How one hook delivery ended (the last attempt's outcome) and how many tries it took."""

    hook: str
    action: str
    event: str
    incident_id: int | None
    outcome: str  # ok | failed | timeout | dry_run | suppressed
    attempts: int = 0
    response_code: int | None = None
    error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True for a delivery that did what was asked (or, in a dry run, would have)."""
        return self.outcome in ("ok", "dry_run", "suppressed")

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
        }


def backoff_delay(hook: Hook, attempt_no: int) -> float:
    """Seconds to wait after failed attempt ``attempt_no`` (1-based): backoff * 2^(n-1), capped."""
    return float(min(hook.backoff_max, hook.backoff * (2 ** (attempt_no - 1))))


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
                    detail=detail)  # fmt: skip


def deliver(
    store: Store,
    hook: Hook,
    note: Notification,
    *,
    actor: str = "voiceobs",
    dry_run: bool = False,
    stop: threading.Event | None = None,
) -> Delivery:
    """Deliver once, retrying what may pass (timeouts, 5xx, refused connections).

    Every attempt is recorded. ``stop`` (set on SIGTERM) cuts the backoff wait
    short so a shutting-down evaluator exits promptly; the delivery is then
    recorded as failed with the reason.
    """
    if dry_run or hook.dry_run:
        return record_only(store, hook, note, outcome="dry_run", error=None, actor=actor, dry=True)
    stop = stop or threading.Event()
    total = hook.retries + 1
    result = Delivery(hook.name, hook.action, note.event, note.incident_id, "failed")
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
            attempt=n,
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
        if stop.wait(backoff_delay(hook, n)):
            result.error = f"{result.error}; gave up retrying: shutting down"
            break
    return result


__all__ = ["Delivery", "backoff_delay", "deliver", "record_only"]
