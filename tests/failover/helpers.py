"""Shared pieces for failover tests: SLO results shaped like the engine's, hooks files, racers.

The real loopback HTTP receiver is in tests/helpers.py (the integration tests use it too).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CALLS: list[dict[str, Any]] = []


def record_call(incident: dict[str, Any]) -> str:
    """A Python hook entry point used by the tests."""
    CALLS.append(incident)
    return "noted"


def failing_call(incident: dict[str, Any]) -> None:
    """A Python hook entry point that always raises."""
    raise RuntimeError(f"cannot handle {incident['slo']}")


@dataclass(frozen=True)
class FakeSlo:
    """The SLO attributes failover reads (the engine's SLO has more)."""

    name: str
    description: str = "callers get an answer"
    objective: float = 0.995
    window: str = "30d"
    selector: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FakeResult:
    """One SLO evaluation, with the attributes of voiceobs.slo's SloResult."""

    slo: FakeSlo
    alert_state: str = "ok"
    firing: tuple[str, ...] = ()
    sli: float | None = 0.999
    good: int = 999
    total: int = 1000
    budget_remaining: float | None = 0.8
    burn_rates: dict[str, float | None] = field(default_factory=dict)


def firing(name: str, severity: str = "page", **selector: Any) -> FakeResult:
    """A result whose alert of ``severity`` fires (a fast burn)."""
    return FakeResult(
        slo=FakeSlo(name, selector=selector),
        alert_state=severity,
        firing=(f"{severity}_1h_5m",),
        sli=0.9,
        good=900,
        total=1000,
        budget_remaining=-19.0,
        burn_rates={"5m": 20.0, "1h": 20.0},
    )


def ok(name: str, **selector: Any) -> FakeResult:
    """A result whose alerts are all quiet."""
    return FakeResult(slo=FakeSlo(name, selector=selector), burn_rates={"5m": 0.1, "1h": 0.2})


def write_hooks(path: Path, body: str) -> Path:
    """A hooks file with the version line prepended."""
    path.write_text("version: voiceobs/v1\n" + body, encoding="utf-8")
    return path


def race_worker(url: str, hooks_path: str, barrier: Any, out: Any, rounds: int) -> None:
    """One evaluator of a race: open the store, then run passes in lockstep with the others."""
    from voiceobs.failover import load_hooks, process
    from voiceobs.store import Store

    store = Store.open(url)
    hooks = load_hooks(hooks_path)
    delivered = []
    for i in range(rounds):
        results = [firing("agent-availability"), firing("agent-latency", "ticket")]
        if i % 2:
            results = [ok("agent-availability"), ok("agent-latency")]
        barrier.wait(timeout=60)
        report = process(store, results, hooks)
        delivered.extend((d.hook, d.event, d.incident_id) for d in report.deliveries)
    store.close()
    out.put(delivered)


def retry_worker(url: str, hooks_path: str, barrier: Any, out: Any) -> None:
    """One of several evaluators that find the same pending delivery due at the same instant."""
    from voiceobs.failover import load_hooks, process
    from voiceobs.store import Store

    store = Store.open(url)
    hooks = load_hooks(hooks_path)
    barrier.wait(timeout=60)
    report = process(store, [firing("agent-availability")], hooks)
    store.close()
    out.put([(d.hook, d.event, d.outcome) for d in report.deliveries])
