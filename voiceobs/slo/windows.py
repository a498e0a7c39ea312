"""Burn-rate alert windows: the SRE Workbook table as data, scaled to any SLO period.

The table lives in ``windows.yaml`` next to this module so an operator can
read (or, with ``load_policy(path)``, replace) the thresholds without reading
code. Windows scale in proportion to the SLO period and burn rates stay put,
which keeps each alert's meaning ("2% of the budget gone in 1/720 of the
period") the same for a 7-day SLO as for a 30-day one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from voiceobs import safe_yaml
from voiceobs.durations import format_duration, parse_duration
from voiceobs.errors import SpecError

DEFAULT_POLICY_PATH = Path(__file__).with_name("windows.yaml")
SEVERITIES = ("page", "ticket")


@dataclass(frozen=True)
class AlertWindow:
    """One multiwindow alert: fires when both windows burn faster than ``burn_rate``."""

    severity: str
    long: timedelta
    short: timedelta
    burn_rate: float

    @property
    def long_label(self) -> str:
        """The long window as written (``1h``); also the key in ``burn_rates``."""
        return format_duration(self.long)

    @property
    def short_label(self) -> str:
        """The short window as written (``5m``)."""
        return format_duration(self.short)


@dataclass(frozen=True)
class BurnPolicy:
    """The alert table for a reference period (30 days in the workbook)."""

    period: timedelta
    alerts: tuple[AlertWindow, ...]

    def scaled(self, period: timedelta) -> tuple[AlertWindow, ...]:
        """The alerts for an SLO of ``period``: windows scaled, burn rates unchanged.

        Windows are rounded to whole seconds (at least one) so they can be
        written as Prometheus range selectors.
        """
        factor = period / self.period
        return tuple(
            AlertWindow(
                severity=a.severity,
                long=_whole_seconds(a.long * factor),
                short=_whole_seconds(a.short * factor),
                burn_rate=a.burn_rate,
            )
            for a in self.alerts
        )


def _whole_seconds(delta: timedelta) -> timedelta:
    return timedelta(seconds=max(1, round(delta.total_seconds())))


def load_policy(path: str | Path | None = None) -> BurnPolicy:
    """Read a window table (the shipped workbook one by default)."""
    where = Path(path) if path else DEFAULT_POLICY_PATH
    data: Any = safe_yaml.load(where, "burn-rate window table").data
    try:
        period = parse_duration(data["period"])
        alerts = []
        for i, item in enumerate(data["alerts"]):
            severity = str(item["severity"])
            if severity not in SEVERITIES:
                raise ValueError(f"alerts[{i}].severity must be page or ticket, not {severity!r}")
            long, short = parse_duration(item["long"]), parse_duration(item["short"])
            if short >= long:
                raise ValueError(f"alerts[{i}]: the short window must be shorter than the long one")
            rate = float(item["burn_rate"])
            if not math.isfinite(rate) or rate <= 0:
                raise ValueError(f"alerts[{i}].burn_rate must be positive")
            alerts.append(AlertWindow(severity, long, short, rate))
    except (KeyError, TypeError, ValueError) as exc:
        raise SpecError(f"malformed burn-rate window table: {exc}", path=str(where)) from exc
    return BurnPolicy(period=period, alerts=tuple(alerts))


__all__ = ["DEFAULT_POLICY_PATH", "SEVERITIES", "AlertWindow", "BurnPolicy", "load_policy"]
