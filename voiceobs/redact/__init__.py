"""PII redaction for transcripts, URLs, span names and span attributes, written and spoken.

Voice transcripts carry personal data the way people say it, not the way
forms write it: "four one five, five five five, one two one two", "john dot
smith at gmail dot com", "born on March third nineteen eighty five", "my pin
is four four two one". A redactor that only knows written patterns lets
exactly the data a voice system handles leak into traces, so every
detector here has a spoken form.

The package holds one module per family of personal data (``phones``,
``emails``, ``financial``, ``ids``, ``dates``, ``network``, ``places``,
``names``, ``secrets``, ``urls``), the shared readings of spoken numbers
and spelled letters (``numbers``, ``spelling``), the policy that says what
happens to each attribute key (``policy`` and its data, ``policy.yaml``),
the :class:`Redactor` that runs them (``redactor``), and ``redact_run``,
which redacts a whole ``RunResult`` before it is stored (``run``).
"""

from __future__ import annotations

from voiceobs.redact.policy import Policy, load_policy
from voiceobs.redact.redactor import (
    KEY_ENV,
    KINDS,
    Redactor,
    default_redactor,
    redact_text,
)
from voiceobs.redact.run import redact_run

__all__ = [
    "KEY_ENV",
    "KINDS",
    "Policy",
    "Redactor",
    "default_redactor",
    "load_policy",
    "redact_run",
    "redact_text",
]
