"""Dates of birth after a cue, numeric and spoken; other dates survive."""

from __future__ import annotations

import pytest

from voiceobs.redact import Redactor


@pytest.fixture
def r() -> Redactor:
    return Redactor(b"k", use_env=False)


def test_forms_of_one_birthday_share_a_pseudonym(r: Redactor) -> None:
    forms = [
        "I was born on March 4th 1985",
        "DOB 03/04/1985",
        "date of birth 1985-03-04",
        "my birthday's the fourth of march nineteen eighty five",
        "date of birth oh three oh four nineteen eighty five",
    ]
    tags = {r.redact_text(f).rsplit("[DOB:", 1)[1] for f in forms}
    assert len(tags) == 1


@pytest.mark.parametrize(
    "text",
    [
        "the appointment is on March 3rd 1985",
        "I was born in London",
        "born 12 weeks early",
        "due 2024-01-15",
    ],
)
def test_other_dates_survive(r: Redactor, text: str) -> None:
    assert r.redact_text(text) == text
