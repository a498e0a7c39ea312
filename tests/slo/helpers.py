"""Bulk writers of calls and turns at exact instants, for hand-computed SLO answers."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert

from voiceobs.results import TURN_MEASURES
from voiceobs.store import ProbeRun, Store, Turn

T0 = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
PROBE = "echo-loopback"
TARGET = "ws://127.0.0.1:8765/twilio"


def add_turns(store: Store, rows: Iterable[tuple[datetime, bool, dict[str, Any]]], *,
              probe: str = PROBE, region: str = "local", labels: dict[str, str] | None = None,
              status: str = "ok", source: str = "synthetic", framework: str = "voiceobs",
              service: str = "", deployment: str = "") -> int:
    """Store one call holding a turn per ``(started_at, ok, measures)``; returns how many."""
    rows = list(rows)
    if not rows:
        return 0
    run_id = uuid.uuid4().hex
    with store.engine.begin() as conn:
        conn.execute(insert(ProbeRun), [{
            "id": run_id, "probe_name": probe, "target_url": TARGET, "region": region,
            "labels": labels or {}, "started_at": min(r[0] for r in rows), "status": status,
            "source": source, "framework": framework, "service": service, "deployment": deployment,
        }])
        conn.execute(insert(Turn), [
            {"run_id": run_id, "turn_index": i, "started_at": at, "probe_name": probe,
             "target_url": TARGET, "region": region, "ok": ok, "source": source,
             "framework": framework, "service": service,
             **dict.fromkeys(TURN_MEASURES), **measures}
            for i, (at, ok, measures) in enumerate(rows)
        ])
    return len(rows)


def add_latency(store: Store, at: datetime, latency_ms: float | None, *, ok: bool = True,
                **kw: Any) -> None:
    """One turn with ``turn_latency_ms`` at ``at``."""
    add_turns(store, [(at, ok, {"turn_latency_ms": latency_ms})], **kw)


def add_calls(store: Store, calls: Iterable[tuple[datetime, str]], *, probe: str = PROBE,
              labels: dict[str, str] | None = None) -> None:
    """Calls with no turns, each ``(started_at, status)``."""
    with store.engine.begin() as conn:
        conn.execute(insert(ProbeRun), [{
            "id": uuid.uuid4().hex, "probe_name": probe, "target_url": TARGET, "region": "local",
            "labels": labels or {}, "started_at": at, "status": status,
            "failure_class": None if status == "ok" else "timeout",
        } for at, status in calls])
