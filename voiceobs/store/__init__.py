"""The result store: SQLAlchemy models, engines, migrations and the repository."""

from voiceobs.store.engine import make_engine, redact_url
from voiceobs.store.models import (
    HookClaim,
    HookDelivery,
    Incident,
    IncidentAction,
    ProbeRun,
    SloEvaluation,
    SloRollup,
    SloRollupState,
    Span,
    Turn,
    metadata,
)
from voiceobs.store.repository import HookLease, Store, StoreStatus

__all__ = [
    "HookClaim",
    "HookDelivery",
    "HookLease",
    "Incident",
    "IncidentAction",
    "ProbeRun",
    "SloEvaluation",
    "SloRollup",
    "SloRollupState",
    "Span",
    "Store",
    "StoreStatus",
    "Turn",
    "make_engine",
    "metadata",
    "redact_url",
]
