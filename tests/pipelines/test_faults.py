"""The fault grammar: parse, merge, describe, and what it refuses."""

from __future__ import annotations

import pytest

from voiceobs.errors import ConfigError
from voiceobs.pipelines.faults import Faults


def test_fault_parse_and_merge() -> None:
    f = Faults.parse("delay=300, garble,drop=1.5")
    assert f.delay_ms == 300 and f.garble and f.drop_after_s == 1.5
    assert Faults.parse(f.describe()) == f
    assert Faults.parse("stall").stall_at_start
    assert Faults.parse("crash").crash_after_s == 0.0
    merged = Faults.parse("delay=100").merge(Faults.parse("delay=50,silence"))
    assert merged.delay_ms == 150 and merged.silence
    assert not Faults.parse("").any
    for bad in ("explode", "delay", "delay=abc", "garble=2", "drop=-1", "drop=nan", "delay=inf",
                "delay=1e12", "stall=-inf", "crash=7200"):  # fmt: skip
        with pytest.raises(ConfigError):
            Faults.parse(bad)
