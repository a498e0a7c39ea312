"""The store: one handle over every aggregate, the only place in voiceobs that builds SQL.

``Store`` puts the aggregates together (runs, evaluations, incidents, hook
claims, each in its own module) so both backends get the same semantics: a
run is saved with its turns and spans in one transaction (and saving it
again is a no-op, which makes spool replay safe), and incident and hook
uniqueness is enforced by constraints rather than by whichever process
happens to be running. Readers (the dashboard's analytics, the SLO engine's
rollups, the Prometheus exports) live beside it in the store package.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from voiceobs.store.base import StoreBase
from voiceobs.store.engine import translate_db_error
from voiceobs.store.evaluations import EvaluationsMixin
from voiceobs.store.hook_claims import FINAL_CLAIM_STATES, HookClaimsMixin, HookLease, claim_due
from voiceobs.store.incidents import IncidentsMixin
from voiceobs.store.models import HookDelivery, Incident, ProbeRun, SloEvaluation, Span, Turn
from voiceobs.store.runs import RunsMixin


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


class Store(RunsMixin, EvaluationsMixin, IncidentsMixin, HookClaimsMixin, StoreBase):
    """A handle on one result store (SQLite file or PostgreSQL database), every aggregate included."""

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
