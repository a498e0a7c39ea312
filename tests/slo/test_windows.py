"""The burn-rate window table is data, and scales with the SLO period as the workbook does."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from voiceobs.errors import SpecError
from voiceobs.slo import load_policy


def test_shipped_table_is_the_workbook_one() -> None:
    policy = load_policy()
    assert policy.period == timedelta(days=30)
    got = [(a.severity, a.long_label, a.short_label, a.burn_rate) for a in policy.alerts]
    assert got == [("page", "1h", "5m", 14.4), ("page", "6h", "30m", 6.0), ("ticket", "3d", "6h", 1.0)]


def test_windows_scale_with_the_period_and_burn_rates_stay() -> None:
    seven = load_policy().scaled(timedelta(days=7))
    assert [(a.long_label, a.short_label, a.burn_rate) for a in seven] == [
        ("14m", "1m10s", 14.4), ("1h24m", "7m", 6.0), ("16h48m", "1h24m", 1.0)]
    same = load_policy().scaled(timedelta(days=30))
    assert [a.long for a in same] == [timedelta(hours=1), timedelta(hours=6), timedelta(days=3)]


def test_a_broken_table_is_a_spec_error(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text("period: 30d\nalerts:\n  - {severity: page, long: 5m, short: 1h, burn_rate: 2}\n")
    with pytest.raises(SpecError, match="shorter than the long"):
        load_policy(path)
