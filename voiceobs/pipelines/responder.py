"""The agent's brain: transcript in, intent and reply text out.

The reference agent must answer the same prompt the same way every time so
a probe can score its reply against a golden render, hence a small intent
table with keyword and fuzzy matching instead of a model. The
:class:`Responder` protocol is the seam where a real LLM can plug in later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from rapidfuzz import fuzz


@dataclass(frozen=True)
class Reply:
    """What the agent says, and which intent it recognised (``unknown`` for none)."""

    intent: str
    text: str


@dataclass(frozen=True)
class Intent:
    """One row of the intent table: example phrases, keywords and the fixed reply."""

    name: str
    phrases: tuple[str, ...]
    keywords: tuple[str, ...]
    reply: str


class Responder(Protocol):
    """Maps what the caller said (plus earlier turns) to a reply."""

    def respond(self, transcript: str, history: list[tuple[str, str]]) -> Reply:
        """``history`` is ``[(caller transcript, agent reply), ...]`` of this call."""


#: The reference intent table. Phrases double as the ASR grammar. Replies are
#: worded so that a probe's pocketsphinx, after an 8 kHz telephone line, hears
#: them: "from nine to five" came out as "ninety five", "a password reset link"
#: as "that have to agree that link" (benchmarks/pipelines/RESULTS.md).
DEFAULT_INTENTS: tuple[Intent, ...] = (
    Intent(
        "hours",
        ("what are your opening hours", "when are you open", "what time do you open"),
        ("hours", "open", "opening"),
        "We are open from nine in the morning to five in the evening, Monday to Friday.",
    ),
    Intent(
        "balance",
        ("check my account balance", "what is my balance", "i want to check my account balance"),
        ("balance", "account"),
        "Your account balance is one hundred and twenty dollars.",
    ),
    Intent(
        "cancel",
        ("cancel my order", "please cancel my order", "i want to cancel my order"),
        ("cancel",),
        "Okay, I have cancelled your order.",
    ),
    Intent(
        "agent",
        ("talk to a human agent", "let me talk to a human agent", "speak to a person"),
        ("human", "agent", "person", "representative"),
        "Please hold while I connect you to a human agent.",
    ),
    Intent(
        "appointment",
        ("book an appointment", "i would like to book an appointment", "schedule a visit"),
        ("appointment", "book", "schedule"),
        "Done. I have booked your appointment for tomorrow morning at ten.",
    ),
    Intent(
        "password",
        ("reset my password", "reset my password please", "i forgot my password"),
        ("password", "reset"),
        "I have sent you an email with a link to reset your password.",
    ),
    Intent(
        "greeting",
        ("hello", "hello there", "good morning"),
        ("hello", "morning"),
        "Hello! How can I help you today?",
    ),
    Intent(
        "goodbye",
        ("goodbye", "thank you goodbye", "that is all thank you"),
        ("goodbye", "bye"),
        "Thank you for calling. Goodbye!",
    ),
)

FALLBACK_REPLY = "Sorry, I did not catch that. Could you say it again?"


@dataclass
class IntentResponder:
    """Fuzzy phrase match first, keyword vote second, a fixed fallback last."""

    intents: tuple[Intent, ...] = DEFAULT_INTENTS
    threshold: float = 75.0
    fallback: str = FALLBACK_REPLY
    _by_name: dict[str, Intent] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_name = {i.name: i for i in self.intents}

    def classify(self, transcript: str) -> str:
        """The intent name for a transcript, or ``unknown``."""
        text = transcript.lower().strip()
        if not text:
            return "unknown"
        best, best_score = "unknown", 0.0
        for intent in self.intents:
            score = max(fuzz.token_sort_ratio(text, p) for p in intent.phrases)
            if score > best_score:
                best, best_score = intent.name, score
        if best_score >= self.threshold:
            return best
        words = set(text.split())
        votes = {i.name: len(words & set(i.keywords)) for i in self.intents}
        name, count = max(votes.items(), key=lambda kv: kv[1])
        return name if count > 0 else "unknown"

    def respond(self, transcript: str, history: list[tuple[str, str]]) -> Reply:
        """Deterministic: the same transcript always gets the same reply."""
        name = self.classify(transcript)
        if name == "unknown":
            return Reply("unknown", self.fallback)
        return Reply(name, self._by_name[name].reply)

    def phrases(self) -> list[str]:
        """Every example phrase (the ASR grammar is built from these)."""
        return [p for i in self.intents for p in i.phrases]

    def replies(self) -> list[str]:
        """Every text this responder can say (pre-rendered at load)."""
        return [i.reply for i in self.intents] + [self.fallback]


__all__ = ["DEFAULT_INTENTS", "FALLBACK_REPLY", "Intent", "IntentResponder", "Reply", "Responder"]
