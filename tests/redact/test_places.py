"""Street addresses and postcodes near the words that introduce them."""

from __future__ import annotations

import pytest

from voiceobs.redact import Redactor


@pytest.fixture
def r() -> Redactor:
    return Redactor(use_env=False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I live at 221B Baker Street, London NW1 6XE", "I live at [ADDRESS], London [POSTCODE]"),
        (
            "ship to 42 Elm St., Apt 4B, Springfield, IL 62704",
            "ship to [ADDRESS], Springfield, IL [POSTCODE]",
        ),
        ("it's twenty two acacia avenue", "it's [ADDRESS]"),
        ("send it to PO Box 1234", "send it to [ADDRESS]"),
        ("Hauptstraße 5, 10115 Berlin", "[ADDRESS], [POSTCODE] Berlin"),
        ("my zip code is nine four one oh three", "my zip code is [POSTCODE]"),
        ("the post code is sw1a 1aa", "the post code is [POSTCODE]"),
    ],
)
def test_addresses_and_postcodes(r: Redactor, text: str, expected: str) -> None:
    assert r.redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "take exit 12 toward Main Street",
        "it's a one way street",
        "drive 5 miles down the road",
        "it's two blocks from Main Street",
        "we shipped 94103 units",
    ],
)
def test_ordinary_text_survives(r: Redactor, text: str) -> None:
    assert r.redact_text(text) == text
