"""Incident lifecycle: open when an SLO alert fires, fire each bound hook once, resolve when it stops.

Page and ticket are separate alerts in the multi-window burn-rate method, so
they are separate incidents here: a fast burn opens a ``page`` incident (and
fires the hooks bound to ``page``) while a slow burn opens a ``ticket``
incident; each resolves on its own when its alert stops.

"Once" must hold across processes and hosts (two cron evaluators, the
dashboard), so it is enforced in the store, never in memory:

* one open incident per SLO and severity (a unique key on the incident);
* one claim per hook and event ``(incident, hook, event)``, delivered at least
  once: whoever holds the claim's lease delivers, and the store hands the
  lease to exactly one process at a time (a conditional UPDATE).

A delivery that fails stays pending and every later pass that finds it due
tries again, until it succeeds or reaches its give-up time; a lease left by
an evaluator killed mid-delivery expires and the next pass takes over. Every
pass also sweeps recently resolved incidents for resolved notifications that
are still owed, so a crash between resolving and notifying, or a resolve
clicked on the dashboard, still ends in a ``resolved`` notification per hook.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from threading import Event
from typing import Any, Protocol

from voiceobs.errors import VoiceObsError
from voiceobs.failover.actions import DEFAULT_EXPIRE_AFTER
from voiceobs.failover.delivery import (
    Delivery,
    deliver,
    give_up,
    lease_seconds,
    record_interrupted,
    record_only,
    settle,
)
from voiceobs.failover.payload import ALERTNAME, Notification
from voiceobs.failover.spec import SEVERITIES, Hook, HooksFile, Match, format_duration
from voiceobs.results import utcnow
from voiceobs.store import HookLease, Store
from voiceobs.store.models import HookClaim, HookDelivery, Incident
from voiceobs.store.repository import claim_due

log = logging.getLogger("voiceobs.failover")

# How far back each pass looks for resolved incidents that still owe a resolved notification.
RESOLVED_HORIZON = timedelta(hours=24)


class SloLike(Protocol):
    """What failover reads of an SLO (the SLO engine's spec satisfies it)."""

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def objective(self) -> Any: ...


class SloResultLike(Protocol):
    """What failover reads of one SLO evaluation; it never depends on the engine's internals."""

    @property
    def slo(self) -> SloLike: ...

    @property
    def sli(self) -> float | None: ...

    @property
    def budget_remaining(self) -> float | None: ...

    @property
    def burn_rates(self) -> Mapping[str, float | None]: ...

    @property
    def alert_state(self) -> str: ...

    @property
    def firing(self) -> Any: ...


@dataclass
class Report:
    """What one pass did: incidents opened and resolved, deliveries made, claims lost to racers."""

    opened: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    skipped: int = 0  # hook events another process (or an earlier pass) already owns
    errors: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[Delivery]:
        """Deliveries that did not succeed in this pass (retried later, or given up)."""
        return [d for d in self.deliveries if not d.ok]

    @property
    def given_up(self) -> list[Delivery]:
        """Deliveries this pass gave up on: nobody will try them again."""
        return [d for d in self.deliveries if d.given_up]

    @property
    def pending(self) -> list[Delivery]:
        """Deliveries that failed in this pass and that a later pass retries."""
        return [d for d in self.deliveries if d.state == "pending"]

    def to_json(self) -> dict[str, Any]:
        """For ``--json`` output."""
        return {
            "opened": self.opened,
            "resolved": self.resolved,
            "deliveries": [d.to_json() for d in self.deliveries],
            "pending": len(self.pending),
            "given_up": len(self.given_up),
            "skipped": self.skipped,
            "errors": self.errors,
        }


def default_actor() -> str:
    """Who an automatic action is recorded as: this evaluator process."""
    return f"voiceobs@{socket.gethostname()}:{os.getpid()}"


def firing_severities(result: SloResultLike) -> set[str]:
    """Which severities are firing, from ``alert_state`` and the ``firing`` alert windows.

    ``firing`` may list window names (``page_1h_5m``), severities, objects or
    dicts with a ``severity``; anything naming page or ticket counts.
    """
    out: set[str] = set()
    state = str(getattr(result, "alert_state", "ok") or "ok")
    if state in SEVERITIES:
        out.add(state)
    items: Iterable[Any] = getattr(result, "firing", None) or ()
    if isinstance(items, Mapping):
        items = [k for k, v in items.items() if v]
    for item in items:
        sev = getattr(item, "severity", None)
        if sev is None and isinstance(item, Mapping):
            sev = item.get("severity")
        text = str(sev if sev is not None else item).lower()
        out.update(s for s in SEVERITIES if s in text)
    return out


def slo_labels(slo: SloLike) -> dict[str, str]:
    """The labels a hook's ``match.labels`` is compared with: the SLO's selector and labels."""
    out: dict[str, str] = {}

    def add(source: Any) -> None:
        if source is None:
            return
        items: Iterable[tuple[Any, Any]]
        if isinstance(source, Mapping):
            items = source.items()
        else:
            items = [(k, getattr(source, k, None)) for k in ("probe", "target", "region", "labels")]
        for key, value in items:
            if key == "labels":
                add(value)
            elif value is not None and not isinstance(value, Mapping | list | tuple | set):
                out[str(key)] = str(value)

    add(getattr(slo, "selector", None))
    add(getattr(slo, "labels", None))
    return out


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{float(value) * 100:.3g}%"


def _objective(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return _pct(number) if number <= 1 else f"{number:g}%"


def _numbers(result: SloResultLike | None) -> dict[str, Any]:
    if result is None:
        return {}
    return {
        "sli": result.sli,
        "objective": result.slo.objective,
        "budget_remaining": result.budget_remaining,
        "burn_rates": dict(result.burn_rates or {}),
        "good": getattr(result, "good", None),
        "total": getattr(result, "total", None),
    }


def _describe(result: SloResultLike, severity: str) -> tuple[str, str]:
    slo = result.slo
    burns = ", ".join(
        f"{w}={b:.2f}x" for w, b in (result.burn_rates or {}).items() if b is not None
    )
    summary = f"SLO {slo.name} is burning its error budget too fast ({severity})"
    description = (
        f"{getattr(slo, 'description', '') or slo.name}: SLI {_pct(result.sli)} against objective "
        f"{_objective(slo.objective)}; error budget remaining {_pct(result.budget_remaining)}; "
        f"burn rates {burns or 'n/a'}"
    )
    return summary, description


def notification(
    incident: Incident,
    status: str,
    event: str,
    *,
    result: SloResultLike | None = None,
    external_url: str = "",
    idempotency_key: str = "",
) -> Notification:
    """What hooks are told about an incident (numbers from the latest evaluation when known)."""
    labels = {str(k): str(v) for k, v in (incident.labels or {}).items()}
    labels.setdefault("alertname", ALERTNAME)
    labels.setdefault("slo", incident.slo_name)
    labels.setdefault("severity", incident.severity)
    summary = incident.summary or f"SLO {incident.slo_name} alert ({incident.severity})"
    description = summary
    if result is not None:
        summary, description = _describe(result, incident.severity)
    if status == "resolved":
        summary = f"resolved: {summary}"
    return Notification(
        incident_id=incident.id,
        slo_name=incident.slo_name,
        severity=incident.severity,
        status=status,
        labels=labels,
        annotations={"summary": summary, "description": description},
        starts_at=incident.opened_at,
        ends_at=incident.resolved_at if status == "resolved" else None,
        generator_url=f"{external_url}/?incident={incident.id}" if external_url else "",
        external_url=external_url,
        event=event,
        numbers=_numbers(result),
        idempotency_key=idempotency_key,
    )


def _claim_event(event: str, dry: bool) -> str:
    # Dry runs claim under their own name, so a dry run never uses up a real delivery.
    return f"dry:{event}" if dry else event


@dataclass
class _Task:
    incident: Incident
    hook: Hook
    event: str  # firing | resolved
    result: SloResultLike | None


class _Pass:
    """State of one evaluation pass (shared, read-mostly, by its delivery threads)."""

    def __init__(
        self, store: Store, hooks: HooksFile, actor: str, dry_run: bool, stop: Event
    ) -> None:
        self.store = store
        self.hooks = hooks
        self.actor = actor
        self.dry_run = dry_run
        self.stop = stop
        self._incidents: list[Incident] | None = None

    def incidents(self) -> list[Incident]:
        if self._incidents is None:
            self._incidents = self.store.list_incidents(limit=500)
        return self._incidents

    def run(self, task: _Task) -> Delivery | None:
        """Take the claim's lease and deliver one hook event; None when it is not ours now."""
        if self.stop.is_set():
            return None  # shutting down: the event stays owed to the next pass
        hook, inc = task.hook, task.incident
        dry = self.dry_run or hook.dry_run
        claims = {(c.hook_name, c.event): c for c in self.store.hook_claims(inc.id)}
        now = utcnow()
        existing = claims.get((hook.name, _claim_event(task.event, dry)))
        if existing is not None and not claim_due(existing, now):
            if (
                existing.state == "delivered"
                and task.event == "firing"
                and hook.action == "alertmanager"
                and not dry
            ):
                return self._refresh(task, existing)
            return None  # cheap pre-check; the lease below is what guarantees one deliverer
        if task.event == "resolved":
            fired = claims.get((hook.name, _claim_event("firing", dry)))
            if fired is None or fired.state != "delivered":
                return None  # the receiver has not heard it fire (yet): nothing to resolve
        lease = self.store.take_hook_lease(
            inc.id, hook.name, _claim_event(task.event, dry), by=self.actor,
            lease_seconds=lease_seconds(hook),
            give_up_at=now + timedelta(seconds=hook.give_up_after), now=now,
        )  # fmt: skip
        if lease is None:
            return None
        return self._deliver(task, lease, dry)

    def _deliver(self, task: _Task, lease: HookLease, dry: bool) -> Delivery:
        hook, inc, claim = task.hook, task.incident, lease.claim
        status = "resolved" if task.event == "resolved" else "firing"
        note = notification(
            inc, status, task.event, result=task.result, external_url=self.hooks.external_url,
            idempotency_key=claim.idempotency_key,
        )  # fmt: skip
        record_interrupted(self.store, hook, note, lease)
        if claim.give_up_at is not None and utcnow() >= claim.give_up_at:
            reason = f"not delivered within give_up_after ({format_duration(hook.give_up_after)})"
            return give_up(self.store, hook, note, lease, actor=self.actor, reason=reason)
        if task.event == "firing" and hook.cooldown > 0 and claim.attempts == 0:
            last = self._last_fired(hook, inc, dry)
            if last is not None:
                error = f"cooldown: fired for SLO {inc.slo_name} at {last.isoformat()}"
                d = record_only(self.store, hook, note, outcome="suppressed", error=error,
                                actor=self.actor, dry=dry)  # fmt: skip
                self.store.finish_hook_lease(claim.id, lease.token, state="suppressed",
                                             attempts=0, error=error)  # fmt: skip
                d.state, d.give_up_at = "suppressed", claim.give_up_at
                return d
        if dry:
            d = record_only(self.store, hook, note, outcome="dry_run", error=None,
                            actor=self.actor, dry=True)  # fmt: skip
            return settle(self.store, hook, note, lease, d, actor=self.actor)
        d = deliver(self.store, hook, note, actor=self.actor, stop=self.stop,
                    first_attempt=claim.attempts + 1)  # fmt: skip
        return settle(self.store, hook, note, lease, d, actor=self.actor,
                      stopped=self.stop.is_set())  # fmt: skip

    def _refresh(self, task: _Task, fired: HookClaim) -> Delivery | None:
        """Re-send a still-firing alert to Alertmanager before its endsAt lets it lapse.

        Alertmanager resolves an alert by itself at endsAt unless the sender
        repeats it (Prometheus re-sends every evaluation); re-sending an alert
        Alertmanager already has is idempotent and notifies nobody, so racing
        evaluators need no claim here, and an alert that never got through
        (Alertmanager down when the incident opened) is simply tried again.
        """
        ttl = float(task.hook.option("expire_after") or DEFAULT_EXPIRE_AFTER)
        prior: Sequence[HookDelivery] = self.store.deliveries(task.incident.id)
        sent = [
            d.attempted_at
            for d in prior
            if d.hook_name == task.hook.name
            and d.outcome == "ok"
            and d.event in ("firing", "refresh")
        ]
        if sent and utcnow() - max(sent) < timedelta(seconds=ttl / 2):
            return None
        note = notification(
            task.incident, "firing", "refresh", result=task.result,
            external_url=self.hooks.external_url, idempotency_key=fired.idempotency_key,
        )  # fmt: skip
        return deliver(self.store, task.hook, note, actor=self.actor, stop=self.stop)

    def _last_fired(self, hook: Hook, inc: Incident, dry: bool) -> datetime | None:
        """When this hook last fired for an earlier incident of the same alert, within cooldown."""
        since = utcnow() - timedelta(seconds=hook.cooldown)
        wanted = "dry_run" if dry else "ok"
        for other in self.incidents():
            if (
                other.id == inc.id
                or other.slo_name != inc.slo_name
                or other.severity != inc.severity
            ):
                continue
            if other.resolved_at is not None and other.resolved_at < since:
                continue
            for d in self.store.deliveries(other.id):
                if (
                    d.hook_name == hook.name
                    and d.event == "firing"
                    and d.outcome == wanted
                    and d.attempted_at >= since
                ):
                    return d.attempted_at
        return None


def _safe_run(p: _Pass, task: _Task, report: Report) -> Delivery | None:
    try:
        return p.run(task)
    except VoiceObsError as exc:  # the store hiccuped: this hook waits for the next pass
        msg = f"hook {task.hook.name} for incident {task.incident.id}: {exc}"
        log.warning("%s", msg)
        report.errors.append(msg)
        return None


def _execute(p: _Pass, tasks: Sequence[_Task], report: Report, max_workers: int) -> None:
    if not tasks:
        return
    # Hooks run side by side so one slow target delays none of the others.
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(tasks)))) as pool:
        outcomes = list(pool.map(lambda t: _safe_run(p, t, report), tasks))
    for d in outcomes:
        if d is None:
            report.skipped += 1
        else:
            report.deliveries.append(d)


def process(
    store: Store,
    results: Iterable[SloResultLike],
    hooks: HooksFile,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    actor: str | None = None,
    stop: Event | None = None,
    max_workers: int = 8,
) -> Report:
    """Turn one round of SLO results into incidents and hook deliveries.

    Safe to run from several processes at once against one store: each hook
    event is delivered by exactly one of them. Hook failures are recorded and
    reported, never raised.
    """
    actor = actor or default_actor()
    p = _Pass(store, hooks, actor, dry_run, stop or Event())
    report = Report()
    tasks: list[_Task] = []
    by_name: dict[str, SloResultLike] = {}
    for result in results:
        slo = result.slo
        by_name[slo.name] = result
        labels = slo_labels(slo)
        active = firing_severities(result)
        for severity in SEVERITIES:
            if severity in active:
                summary, _ = _describe(result, severity)
                alert_labels = {
                    **labels,
                    "alertname": ALERTNAME,
                    "slo": slo.name,
                    "severity": severity,
                }
                inc, created = store.open_incident(
                    slo.name, severity, summary=summary, labels=alert_labels, opened_at=now
                )
                if created:
                    report.opened.append(inc.id)
                    log.warning("incident %d opened: %s", inc.id, summary)
                for hook in hooks.bound(slo.name, alert_labels, severity):
                    tasks.append(_Task(inc, hook, "firing", result))
            else:
                inc_open = store.open_incident_for(slo.name, severity)
                if inc_open is not None and store.resolve_incident(inc_open.id, by=actor, at=now):
                    report.resolved.append(inc_open.id)
                    log.warning("incident %d resolved: SLO %s %s", inc_open.id, slo.name, severity)
    tasks.extend(_owed_resolutions(p, by_name, now))
    tasks.extend(_due_retries(p, tasks, by_name, report))
    _execute(p, tasks, report, max_workers)
    return report


def _owed_resolutions(
    p: _Pass, by_name: Mapping[str, SloResultLike], now: datetime | None, only: int | None = None
) -> list[_Task]:
    # A resolved notification waits for its firing one, which may be retried up to give_up_after.
    longest = max([RESOLVED_HORIZON, *(timedelta(seconds=h.give_up_after) for h in p.hooks.hooks)])
    horizon = (now or utcnow()) - longest
    tasks = []
    for inc in p.incidents():
        if inc.resolved_at is None or inc.resolved_at < horizon or (only and inc.id != only):
            continue
        for hook in p.hooks.bound(inc.slo_name, inc.labels or {}, inc.severity):
            if hook.send_resolved:
                tasks.append(_Task(inc, hook, "resolved", by_name.get(inc.slo_name)))
    return tasks


def _due_retries(
    p: _Pass, planned: Sequence[_Task], by_name: Mapping[str, SloResultLike], report: Report
) -> list[_Task]:
    """Claims that are due again (failed earlier, or cut off by a killed pass) and not planned yet.

    A firing notification is retried even after its incident resolved: at
    least once means the receiver hears it, and the resolved one follows.
    """
    seen = {(t.incident.id, t.hook.name, t.event) for t in planned}
    known = {i.id: i for i in p.incidents()}
    tasks: list[_Task] = []
    for claim in p.store.due_hook_claims():
        dry, _, event = claim.event.rpartition(":")
        if (
            event not in ("firing", "resolved")
            or (claim.incident_id, claim.hook_name, event) in seen
        ):
            continue
        inc = known.get(claim.incident_id) or p.store.get_incident(claim.incident_id)
        if inc is None:
            continue
        hook = next((h for h in p.hooks.hooks if h.name == claim.hook_name), None)
        if hook is None:
            _give_up_orphan(p, claim, inc, event, report)
            continue
        if bool(dry) != (p.dry_run or hook.dry_run):
            continue  # a dry pass never delivers for real, nor a real one for a dry run
        tasks.append(_Task(inc, hook, event, by_name.get(inc.slo_name)))
    return tasks


def _give_up_orphan(p: _Pass, claim: HookClaim, inc: Incident, event: str, report: Report) -> None:
    """A claim whose hook left the hooks file: nobody can deliver it; end it at its give-up time."""
    now = utcnow()
    if claim.give_up_at is None or now < claim.give_up_at:
        return  # another evaluator's hooks file may still have it
    orphan = Hook(name=claim.hook_name, action="unknown", match=Match(), options={})
    lease = p.store.take_hook_lease(
        inc.id, claim.hook_name, claim.event, by=p.actor, lease_seconds=60.0, now=now
    )
    if lease is None:
        return
    note = notification(inc, "resolved" if event == "resolved" else "firing", event,
                        idempotency_key=claim.idempotency_key)  # fmt: skip
    reason = f"hook {claim.hook_name!r} is not in the hooks file {p.hooks.path or ''}".rstrip()
    report.deliveries.append(give_up(p.store, orphan, note, lease, actor=p.actor, reason=reason))


# -- manual actions (dashboard, `voiceobs incident`) ------------------------------------------


def _require(store: Store, incident_id: int) -> Incident:
    inc = store.get_incident(incident_id)
    if inc is None:
        raise VoiceObsError(f"no incident {incident_id}; list them with `voiceobs incident list`")
    return inc


def acknowledge(store: Store, incident_id: int, actor: str, *, note: str = "") -> bool:
    """A person takes an open incident; recorded with their name. False if it is not open."""
    _require(store, incident_id)
    return store.acknowledge_incident(incident_id, by=actor, note=note)


def resolve(
    store: Store,
    incident_id: int,
    actor: str,
    *,
    note: str = "",
    hooks: HooksFile | None = None,
    dry_run: bool = False,
) -> bool:
    """A person resolves an incident; False if it was already resolved.

    With ``hooks`` the owed resolved notifications go out now; without, the
    next evaluation pass sends them (exactly once either way).
    """
    _require(store, incident_id)
    changed = store.resolve_incident(incident_id, by=actor, note=note)
    if hooks is not None:
        p = _Pass(store, hooks, actor, dry_run, Event())
        _execute(p, _owed_resolutions(p, {}, None, only=incident_id), Report(), 8)
    return changed


def trigger_hook(
    store: Store,
    incident_id: int,
    hook: Hook,
    actor: str,
    *,
    dry_run: bool = False,
    external_url: str = "",
) -> Delivery:
    """A person fires a hook for an incident by hand (e.g. degrade the pipeline now).

    Manual triggers are deliberate, so they bypass claims, bindings and
    cooldown; they are recorded as an incident action and as ``manual``
    deliveries under the person's name. Each trigger is its own notification,
    with its own idempotency key.
    """
    inc = _require(store, incident_id)
    store.record_action(incident_id, "trigger_hook", by=actor, note=hook.name)
    status = "firing" if inc.resolved_at is None else "resolved"
    note = notification(inc, status, "manual", external_url=external_url,
                        idempotency_key=str(uuid.uuid4()))  # fmt: skip
    return deliver(store, hook, note, actor=actor, dry_run=dry_run)


__all__ = [
    "Report",
    "SloLike",
    "SloResultLike",
    "acknowledge",
    "default_actor",
    "firing_severities",
    "notification",
    "process",
    "resolve",
    "slo_labels",
    "trigger_hook",
]
