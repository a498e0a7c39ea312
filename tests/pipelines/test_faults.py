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


def test_conversation_faults_parse_merge_and_round_trip() -> None:
    f = Faults.parse("ignore_barge_in,stop_late=300,dead_air=700,early_endpoint,greeting_delay=1500")
    assert f.ignore_barge_in and f.stop_late_ms == 300 and f.dead_air_ms == 700
    assert f.early_endpoint_ms == 150 and f.greeting_delay_ms == 1500
    assert Faults.parse(f.describe()) == f
    assert Faults.parse("early_endpoint=80").early_endpoint_ms == 80
    # Per-call faults come on top of the server's: a call's own stop_late wins, delays add.
    merged = Faults.parse("stop_late=100,greeting_delay=200").merge(Faults.parse("stop_late=300,greeting_delay=50"))
    assert merged.stop_late_ms == 300 and merged.greeting_delay_ms == 250


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        ("stop_late", "stop_late needs milliseconds"),
        ("dead_air=nan", "finite number"),
        ("greeting_delay=inf", "finite number"),
        ("stop_late=-5", "finite number, 0 or more"),
        ("dead_air=1e9", "at most 600000 ms"),
        ("ignore_barge_in=1", "takes no value"),
    ],
)
def test_conversation_faults_refuse_bad_values_in_one_line(bad: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        Faults.parse(bad)
    assert needle in str(info.value) and "\n" not in str(info.value)
