"""One duration grammar for specs and flags."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from voiceobs.durations import format_duration, parse_duration, parse_seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("30s", 30),
        ("5m", 300),
        ("1h30m", 5400),
        ("1.5s", 1.5),
        ("3d", 259_200),
        ("2w", 1_209_600),
        ("1m30s500ms", 90.5),
        (" 6H ", 21_600),
        ("5", 5),
        (2.5, 2.5),
        (10, 10),
    ],
)
def test_accepted_forms(text: object, seconds: float) -> None:
    assert parse_seconds(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "bad", ["", "5 minutes", "1h 30m", "-5s", "5x", "ms", "1.s", math.nan, math.inf, -1, True, "nan", "inf"]
)
def test_refused_forms_say_the_accepted_one(bad: object) -> None:
    with pytest.raises(ValueError, match=r"500ms|duration"):
        parse_duration(bad)


def test_zero_only_when_allowed_and_nothing_absurd() -> None:
    with pytest.raises(ValueError, match="longer than zero"):
        parse_duration("0s")
    assert parse_duration("0s", allow_zero=True) == timedelta(0)
    with pytest.raises(ValueError, match="ten years"):
        parse_duration("1000000w")


@pytest.mark.parametrize("text", ["3d", "1h30m", "500ms", "1m30s500ms", "45s", "2d1h"])
def test_format_round_trips(text: str) -> None:
    assert format_duration(parse_duration(text)) == text


def test_the_slo_package_exports_the_same_grammar() -> None:
    from voiceobs import slo

    assert slo.parse_duration is parse_duration and slo.format_duration is format_duration
