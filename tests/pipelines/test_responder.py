"""The intent responder: phrases to intents."""

from __future__ import annotations

import pytest

from voiceobs.pipelines.responder import IntentResponder


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("what are your opening hours", "hours"),
        ("please cancel my order", "cancel"),
        ("talk to a human agent", "agent"),
        ("reset password please", "password"),
        ("i want", "unknown"),
        ("", "unknown"),
    ],
)
def test_responder_intents(text: str, intent: str) -> None:
    r = IntentResponder()
    assert r.respond(text, []).intent == intent
