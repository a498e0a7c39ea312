"""Phone numbers in every written format and said aloud; numbers that are not phones survive."""

from __future__ import annotations

import pytest

from voiceobs.redact import Redactor
from voiceobs.redact.phones import classify_digits, phone_e164


@pytest.fixture
def r() -> Redactor:
    return Redactor(use_env=False)


@pytest.mark.parametrize(
    "number",
    [
        "+44 (0)20 7946 0958",
        "030/12345678",
        "06.12.34.56.78",
        "+33.6.12.34.56.78",
        "0044 20 7946 0958",
        "(415) 555-0100 ext. 204",
        "+1-800-555-0199",
        "912.340.946",
    ],
)
def test_written_formats(r: Redactor, number: str) -> None:
    out = r.redact_text(f"call {number} today")
    assert out in ("call [PHONE] today", "call [DIGITS] today"), out


@pytest.mark.parametrize(
    "text",
    [
        "the 2019-2020 season",
        "version 10.0.19041.1234",
        "pi is 3.14159265",
        "the price is €12.499.000",
        "invoice dated 12/25/2024",
        "we have 1,000,000 users",
        "it took 1234567 ms",
    ],
)
def test_numbers_that_are_not_identifiers(r: Redactor, text: str) -> None:
    assert r.redact_text(text) == text


def test_national_numbers_of_other_regions_normalise_to_e164() -> None:
    assert phone_e164("02079460958", "US", raw="020 7946 0958") == "+442079460958"
    assert classify_digits("4111111111111111", "US") == ("CARD", "4111111111111111")
    assert classify_digits("1234567", "US")[0] == "DIGITS"


def test_phone_answers_are_cached_only_when_asked() -> None:
    cache: dict[tuple[str, str, bool, str], str | None] = {}
    assert phone_e164("4155551212", "US", cache=cache) == "+14155551212"
    assert cache == {("4155551212", "US", False, ""): "+14155551212"}
    assert Redactor(use_env=False, memo_size=0)._phones is None


def test_a_number_after_an_underscore_is_found(r: Redactor) -> None:
    assert r.redact_text("identity sip_+14155551212 joined") == "identity sip_[PHONE] joined"
