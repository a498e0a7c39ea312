"""Incidents: at most one open per SLO and severity (a constraint, not a convention), and who did what."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from voiceobs.errors import StoreError
from voiceobs.results import utcnow
from voiceobs.store.base import StoreBase
from voiceobs.store.models import Incident, IncidentAction


class IncidentsMixin(StoreBase):
    """Opening, acknowledging and resolving incidents, safely under racing evaluators."""

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


__all__ = ["IncidentsMixin"]
