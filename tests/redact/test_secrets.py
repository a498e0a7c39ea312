"""PINs, passwords, codes and account numbers after cues; credentials in machine text."""

from __future__ import annotations

import pytest

from voiceobs.redact import Redactor


@pytest.fixture
def r() -> Redactor:
    return Redactor(use_env=False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my pin is four four two one", "my pin is [SECRET]"),
        ("my pin's 4421", "my pin's [SECRET]"),
        ("the code is 839201", "the code is [SECRET]"),
        ("the security code on the back is 135", "the security code on the back is [SECRET]"),
        ("password: Tr0ub4dor&3", "password: [SECRET]"),
        ("my password is purple monkey seven, thanks", "my password is [SECRET], thanks"),
        ("my order number is 58213", "my order number is [ACCOUNT]"),
        ("order number A B four five nine", "order number [ACCOUNT]"),
        ("booking reference XK7Q2P", "booking reference [ACCOUNT]"),
        ("the card ending in 4421", "the card ending in [ACCOUNT]"),
        ("export API_KEY=sk_live_abc123", "export API_KEY=[SECRET]"),
        ("Authorization: Bearer abc.def-123456", "Authorization: Bearer [SECRET]"),
    ],
)
def test_values_after_cues(r: Redactor, text: str, expected: str) -> None:
    assert r.redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "the code is broken",
        "the error code is 500",
        "the zip code for downtown",
        "pin the message to the channel",
        "your password must be at least 8 characters",
        "your order 4821 has shipped",
        "ticket number 4 please",
        "my account balance is 250 dollars",
        "Password: reset",
    ],
)
def test_cues_without_values_survive(r: Redactor, text: str) -> None:
    assert r.redact_text(text) == text
