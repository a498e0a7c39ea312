"""Evaluate SLOs against the store: SLI, error budget left, burn rates, alert state.

Burn rate over a window is ``(1 - SLI_window) / (1 - objective)``: 1 spends
the budget exactly by the end of the period, 14.4 spends 2% of a 30-day
budget in an hour. An alert fires only while both its long and short windows
burn faster than its threshold (multiwindow, multi-burn-rate, SRE Workbook),
which catches fast burns quickly and stops paging soon after they end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from voiceobs.durations import format_duration
from voiceobs.results import utcnow
from voiceobs.slo.spec import SLO
from voiceobs.slo.windows import AlertWindow, BurnPolicy, load_policy
from voiceobs.store import Store, rollups
from voiceobs.store.retention import RetentionPolicy
from voiceobs.store.sli import SliQuery

#: Alert states: how fast the error budget burns right now (multiwindow burn-rate alerts).
STATES = ("ok", "ticket", "page")
#: Standings: where the SLO stands over its whole window, whatever it burns right now.
STANDINGS = ("met", "at_risk", "breached", "no_data")
#: An SLO that still meets its objective with less than this share of its budget left is at risk.
AT_RISK_BUDGET = 0.25


@dataclass(frozen=True)
class Firing:
    """One alert whose long and short windows both burn past its threshold."""

    severity: str
    long_window: str
    short_window: str
    threshold: float
    long_burn: float
    short_burn: float

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form for ``--json`` and hook payloads."""
        return {
            "severity": self.severity,
            "long_window": self.long_window,
            "short_window": self.short_window,
            "threshold": self.threshold,
            "long_burn": self.long_burn,
            "short_burn": self.short_burn,
        }


@dataclass
class SloResult:
    """One SLO evaluated at one instant."""

    slo: SLO
    evaluated_at: datetime
    window: str
    window_start: datetime
    good: int
    total: int
    burn_rates: dict[str, float | None]
    alerts: tuple[AlertWindow, ...]
    firing: list[Firing] = field(default_factory=list)

    @property
    def sli(self) -> float | None:
        """Good / total over the window; None when nothing was measured."""
        return self.good / self.total if self.total else None

    @property
    def budget_remaining(self) -> float | None:
        """Fraction of the window's error budget left (negative once overspent)."""
        if self.sli is None:
            return None
        return 1.0 - (1.0 - self.sli) / self.slo.error_budget

    @property
    def alert_state(self) -> str:
        """``page`` if any page alert fires, else ``ticket`` if a ticket fires, else ``ok``."""
        severities = {f.severity for f in self.firing}
        return "page" if "page" in severities else "ticket" if "ticket" in severities else "ok"

    @property
    def no_data(self) -> bool:
        """True when the window holds no events for this SLO."""
        return self.total == 0

    @property
    def breached(self) -> bool:
        """The SLI is below the objective over the window (the budget is spent)."""
        return self.sli is not None and self.sli < self.slo.objective

    @property
    def standing(self) -> str:
        """Where the SLO stands over its window: ``met``, ``at_risk``, ``breached`` or ``no_data``.

        Separate from ``alert_state`` on purpose: after a burn the short
        windows recover (alert ``ok``) while the window's budget is still
        spent (``breached``), and an SRE must see both.
        """
        return standing_of(self.total, self.sli, self.slo.objective, self.budget_remaining)

    @property
    def holds(self) -> bool:
        """Not breached and not burning past a page threshold: what the CI gate asks."""
        return not self.breached and self.alert_state != "page"

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form (``slo status --json``, hooks, the dashboard)."""
        return {
            "name": self.slo.name,
            "description": self.slo.description,
            "sli_kind": self.slo.sli.kind,
            "sli_definition": self.slo.sli.describe(),
            "selector": self.slo.selector.to_dict(),
            "objective": self.slo.objective,
            "window": self.window,
            "window_start": self.window_start.isoformat(),
            "evaluated_at": self.evaluated_at.isoformat(),
            "good": self.good,
            "total": self.total,
            "sli": self.sli,
            "budget_remaining": self.budget_remaining,
            "burn_rates": dict(self.burn_rates),
            "standing": self.standing,
            "alert_state": self.alert_state,
            "firing": [f.to_json() for f in self.firing],
            "breached": self.breached,
            "holds": self.holds,
        }


def standing_of(
    total: int, sli: float | None, objective: float, budget_remaining: float | None
) -> str:
    """The standing of an SLO from its window's figures (a result, or a stored evaluation).

    One definition for every place that shows it: ``voiceobs slo status``, the
    gate, the Prometheus annotations and the dashboard's Overview, which reads
    the figures back from recorded evaluations.
    """
    if not total or sli is None:
        return "no_data"
    if sli < objective:
        return "breached"
    if budget_remaining is not None and budget_remaining < AT_RISK_BUDGET:
        return "at_risk"
    return "met"


def burn_rate(good: int, total: int, objective: float) -> float | None:
    """``(1 - good/total) / (1 - objective)``; None when nothing was measured."""
    if total <= 0:
        return None
    # Rounded so that exactly the threshold's error rate does not fire a "faster
    # than" alert through float noise: 1 - 0.9 is 0.09999999999999998.
    return round((total - good) / total / round(1.0 - objective, 12), 9)


def month_start(at: datetime) -> datetime:
    """Midnight UTC on the first of ``at``'s month: where a calendar-month window starts."""
    at = at.astimezone(UTC)
    return at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def evaluate(
    store: Store,
    slos: Sequence[SLO],
    *,
    now: datetime | None = None,
    record: bool = True,
    window: timedelta | None = None,
    policy: BurnPolicy | None = None,
    retention: RetentionPolicy | None = None,
) -> list[SloResult]:
    """Evaluate every SLO at ``now`` (default: the current time) and record the results.

    ``window`` replaces each SLO's compliance window (the gate's ``--since``);
    burn-rate alerts keep the windows of the SLO's own period. ``retention``
    (default: the settings) says from when raw calls may be pruned: windows
    reaching further back are read from the per-minute rollups. Raises
    StoreError (one line) when the store cannot be read.
    """
    now = (now or utcnow()).astimezone(UTC)
    policy = policy or load_policy()
    kept = retention or RetentionPolicy.load()
    horizon = kept.rollup_horizon(now)
    queries = {slo.key: slo.sli_query() for slo in slos}
    # One refresh for every SLO's rollup and the histograms the dashboard reads.
    rollups.refresh_all(store, queries.values(), horizon, kept.span_horizon(now))
    results = [
        _evaluate_one(store, slo, queries[slo.key], now, window, policy, horizon) for slo in slos
    ]
    if record:
        for r in results:
            store.record_evaluation(
                slo_name=r.slo.name,
                window=r.window,
                objective=r.slo.objective,
                good=r.good,
                total=r.total,
                sli=r.sli,
                budget_remaining=r.budget_remaining,
                burn_rates=r.burn_rates,
                alert_state=r.alert_state,
                evaluated_at=now,
            )
    return results


def _evaluate_one(
    store: Store,
    slo: SLO,
    query: SliQuery,
    now: datetime,
    window: timedelta | None,
    policy: BurnPolicy,
    horizon: datetime | None,
) -> SloResult:
    alerts = tuple(
        a for a in policy.scaled(slo.period) if getattr(slo.alerting, a.severity)
    )
    if window is not None:
        label, start = format_duration(window), now - window
    elif slo.calendar:
        label, start = slo.window, month_start(now)
    else:
        label, start = slo.window, now - slo.period
    starts = {"__slo__": start}
    for a in alerts:
        starts[a.long_label] = now - a.long
        starts[a.short_label] = now - a.short
    got = rollups.window_counts(store, query, now, starts, horizon)
    good, total = got.pop("__slo__")
    lengths = {a.long_label: a.long for a in alerts} | {a.short_label: a.short for a in alerts}
    burns = {
        w: burn_rate(*got[w], slo.objective) for w in sorted(got, key=lambda w: lengths[w])
    }
    firing = []
    for a in alerts:
        lb, sb = burns[a.long_label], burns[a.short_label]
        if lb is not None and sb is not None and lb > a.burn_rate and sb > a.burn_rate:
            firing.append(Firing(a.severity, a.long_label, a.short_label, a.burn_rate, lb, sb))
    return SloResult(
        slo=slo,
        evaluated_at=now,
        window=label,
        window_start=start,
        good=good,
        total=total,
        burn_rates=burns,
        alerts=alerts,
        firing=firing,
    )


__all__ = [
    "AT_RISK_BUDGET",
    "STANDINGS",
    "STATES",
    "Firing",
    "SloResult",
    "burn_rate",
    "evaluate",
    "month_start",
    "standing_of",
]
