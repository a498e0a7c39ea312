"""What a hook is told about an incident, in the shapes the outside world expects.

One ``Notification`` describes an incident event (firing or resolved). From it
come the Alertmanager webhook payload (version "4", so any receiver written
for Alertmanager takes voiceobs as is), the alert object of Alertmanager's
``/api/v2/alerts`` API, and the plain JSON/env-var form for commands and
Python entry points.

Every form carries the delivery's idempotency key: delivery is at least once,
so a receiver may see the same notification twice (a retry after a timeout
that did reach it, an evaluator killed before it could record success) and
drops the repeat by that key, which stays the same across every retry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

ALERTNAME = "VoiceobsSLOBurn"
ZERO_TIME = "0001-01-01T00:00:00Z"  # what Alertmanager sends as endsAt while firing


def iso(ts: datetime) -> str:
    """RFC 3339 in UTC with a Z, the form Alertmanager writes."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's label-set fingerprint (FNV-1a 64 over sorted name/value pairs).

    Using the same hash means a receiver that deduplicates by fingerprint
    sees the same identity whether the alert came from voiceobs directly or
    through Alertmanager.
    """
    h = 0xCBF29CE484222325
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode() + b"\xff":
                h ^= byte
                h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


@dataclass(frozen=True)
class Notification:
    """One incident event as hooks see it."""

    incident_id: int | None
    slo_name: str
    severity: str
    status: str  # firing | resolved
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime
    ends_at: datetime | None = None
    generator_url: str = ""
    external_url: str = ""
    event: str = "firing"  # firing | resolved | manual
    numbers: Mapping[str, Any] = field(default_factory=dict)  # sli, budget, burn rates
    idempotency_key: str = ""  # one per (incident, hook, event), the same on every retry

    @property
    def fingerprint(self) -> str:
        """Stable identity of the alert (its labels), shared by firing and resolved."""
        return fingerprint(self.labels)

    def alert(self) -> dict[str, Any]:
        """The alert in Alertmanager webhook form."""
        return {
            "status": self.status,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "startsAt": iso(self.starts_at),
            "endsAt": iso(self.ends_at)
            if self.status == "resolved" and self.ends_at
            else ZERO_TIME,
            "generatorURL": self.generator_url,
            "fingerprint": self.fingerprint,
        }

    def webhook_payload(self, receiver: str) -> dict[str, Any]:
        """The Alertmanager webhook (version 4) body, one alert per notification."""
        group = {k: self.labels[k] for k in ("alertname", "slo", "severity") if k in self.labels}
        group_key = "{}:{" + ", ".join(f'{k}="{v}"' for k, v in sorted(group.items())) + "}"
        return {
            "version": "4",
            "groupKey": group_key,
            "truncatedAlerts": 0,
            "status": self.status,
            "receiver": receiver,
            "groupLabels": group,
            "commonLabels": dict(self.labels),
            "commonAnnotations": dict(self.annotations),
            "externalURL": self.external_url,
            "alerts": [self.alert()],
            # Not in Alertmanager's schema; receivers that do not know it ignore it.
            "idempotencyKey": self.idempotency_key,
        }

    def api_alert(self, ends_at: datetime) -> dict[str, Any]:
        """The alert for Alertmanager's ``POST /api/v2/alerts`` (endsAt decides resolution)."""
        return {
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "startsAt": iso(self.starts_at),
            "endsAt": iso(ends_at),
            "generatorURL": self.generator_url,
        }

    def as_json(self) -> dict[str, Any]:
        """The incident for commands (stdin) and Python entry points."""
        return {
            "incident_id": self.incident_id,
            "slo": self.slo_name,
            "severity": self.severity,
            "status": self.status,
            "event": self.event,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "starts_at": iso(self.starts_at),
            "ends_at": iso(self.ends_at) if self.ends_at else None,
            "fingerprint": self.fingerprint,
            "generator_url": self.generator_url,
            "idempotency_key": self.idempotency_key,
            **{k: v for k, v in self.numbers.items()},
        }

    def env(self) -> dict[str, str]:
        """The incident as ``VOICEOBS_*`` environment variables for commands."""
        out = {
            "VOICEOBS_INCIDENT_ID": "" if self.incident_id is None else str(self.incident_id),
            "VOICEOBS_SLO": self.slo_name,
            "VOICEOBS_SEVERITY": self.severity,
            "VOICEOBS_STATUS": self.status,
            "VOICEOBS_EVENT": self.event,
            "VOICEOBS_SUMMARY": self.annotations.get("summary", ""),
            "VOICEOBS_STARTS_AT": iso(self.starts_at),
            "VOICEOBS_ENDS_AT": iso(self.ends_at) if self.ends_at else "",
            "VOICEOBS_FINGERPRINT": self.fingerprint,
            "VOICEOBS_IDEMPOTENCY_KEY": self.idempotency_key,
        }
        for key in ("sli", "budget_remaining", "objective"):
            value = self.numbers.get(key)
            out[f"VOICEOBS_{key.upper()}"] = "" if value is None else str(value)
        return out


__all__ = ["ALERTNAME", "ZERO_TIME", "Notification", "fingerprint", "iso"]
