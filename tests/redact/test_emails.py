"""Emails written and spoken with every separator; sentences with "at ... dot com" survive."""

from __future__ import annotations

import pytest

from voiceobs.redact import Redactor


@pytest.fixture
def r() -> Redactor:
    return Redactor(b"k", use_env=False)


@pytest.mark.parametrize(
    "said",
    [
        "john dot smith at gmail dot com",
        "john period smith at sign gmail dot com",
        "john underscore smith at gmail dot com",
        "john hyphen smith at gmail dot com",
        "john dash smith at gmail dot com",
    ],
)
def test_separators(r: Redactor, said: str) -> None:
    out = r.redact_text(f"it's {said}")
    assert out.startswith("it's [EMAIL:") and "smith" not in out


def test_written_and_spoken_share_a_pseudonym(r: Redactor) -> None:
    assert r.redact_text("jane.doe7@mail.example.co.uk") == r.redact_text(
        "jane dot doe seven at mail dot example dot co dot uk"
    )


def test_cue_extends_the_local_part(r: Redactor) -> None:
    out = r.redact_text("my email is priya patel at outlook dot com")
    assert "priya" not in out and out.startswith("my email is [EMAIL:")


@pytest.mark.parametrize(
    "text", ["I work at acme dot com", "visit us at example dot com", "meet me at the lobby"]
)
def test_sentences_survive(r: Redactor, text: str) -> None:
    assert r.redact_text(text) == text
