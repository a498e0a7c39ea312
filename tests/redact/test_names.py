"""Names after cues; words that follow cues without being names survive."""

from __future__ import annotations

import pytest

from voiceobs.redact import Redactor


@pytest.fixture
def r() -> Redactor:
    return Redactor(use_env=False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my name is John Smith", "my name is [NAME]"),
        (
            "my name is john smith and I'm calling about my bill",
            "my name is [NAME] and I'm calling about my bill",
        ),
        ("hi this is dave calling from Acme", "hi this is [NAME] calling from Acme"),
        (
            "you're speaking with Emily, how can I help?",
            "you're speaking with [NAME], how can I help?",
        ),
        ("Mr. Johnson will see you now", "Mr. [NAME] will see you now"),
        ("Sarah speaking, how can I help?", "[NAME] speaking, how can I help?"),
        ("that's J-O-H-N", "that's [NAME]"),
        ("thanks Priya, and Priya can you confirm?", "thanks [NAME], and [NAME] can you confirm?"),
        ("my name's Will", "my name's [NAME]"),
    ],
)
def test_names_after_cues(r: Redactor, text: str, expected: str) -> None:
    assert r.redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "my name is not important",
        "this is great",
        "this is a test call",
        "you're speaking with customer service",
        "I'd like to speak with a manager",
        "I miss home",
        "latency was 500 ms today",
        "Dr. appointments are on the 2nd floor",
        "it's three blocks from here",
    ],
)
def test_non_names_survive(r: Redactor, text: str) -> None:
    assert r.redact_text(text) == text
