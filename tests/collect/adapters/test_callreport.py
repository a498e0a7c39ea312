"""What the platforms' reports share: times in two encodings, pseudonymised numbers, replies to the caller."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from voiceobs.collect.adapters.callreport import (
    pseudonymised,
    replies,
    required_id,
    section,
    timestamp,
)
from voiceobs.errors import ReportError
from voiceobs.redact import Redactor


def test_times_from_iso_strings_and_unix_milliseconds() -> None:
    at = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    assert timestamp("2026-05-04T10:00:00.000Z") == at
    assert timestamp("2026-05-04T10:00:00") == at  # naive means UTC
    assert timestamp(1777888800000) == at and timestamp("1777888800000") == at
    assert timestamp(None) is None and timestamp("soon") is None and timestamp(0) is None
    assert timestamp(10**30) is None


def test_phone_numbers_become_the_redactors_pseudonym() -> None:
    r = Redactor(key=b"k" * 32)
    a = pseudonymised("+14155550123", r)
    assert a is not None and a.startswith("[PHONE:") and "4155550123" not in a
    assert pseudonymised("+14155550123", r) == a != pseudonymised("+12025550188", r)
    assert pseudonymised(None, r) is None and pseudonymised("", r) is None


def test_replies_are_the_bots_answers_to_the_caller() -> None:
    messages = [
        {"role": "bot", "message": "Hello!"},
        {"role": "user", "message": "Hours?"},
        {"role": "bot", "message": "Nine"},
        {"role": "bot", "message": "to five."},
        {"role": "user", "message": "Bye."},
        "not a message",
        {"role": "bot", "message": ""},
        {"role": "bot", "message": "Goodbye."},
    ]
    assert replies(messages, bot=frozenset({"bot"}), user=frozenset({"user"}), key="message") == [
        "Nine to five.",
        "Goodbye.",
    ]


def test_required_ids_and_sections() -> None:
    assert required_id(" abc ", "call.id", "Vapi") == "abc" and required_id(42, "id", "X") == "42"
    with pytest.raises(ReportError, match=r"Vapi report has no call\.id"):
        required_id(None, "call.id", "Vapi")
    assert section({"a": {"b": 1}}, "a") == {"b": 1} and section({"a": [1]}, "a") == {}
