"""What the hosted platforms' end-of-call reports share: times, phone numbers, transcripts, ids.

A report is a webhook body as the platform sent it: not redacted, and
holding the caller's phone number. The number never reaches a call as
such: it is replaced by the redactor's keyed pseudonym (``[PHONE:1a2b3c4d]``),
the same one a transcript mentioning it gets, so a caller's calls can be
grouped without anyone reading the number. Transcripts are redacted later
on the recording path, like every call's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from voiceobs.collect.adapters.spans import number, text
from voiceobs.errors import ReportError
from voiceobs.redact import Redactor, default_redactor


def section(payload: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """``payload[key]`` when it is an object, else an empty one (a report may omit any section)."""
    value = payload.get(key)
    return value if isinstance(value, Mapping) else {}


def required_id(value: Any, field: str, platform: str) -> str:
    """A call id the report must carry (the call's identity: without it a retry would duplicate)."""
    out = text(value) if not isinstance(value, int) or isinstance(value, bool) else str(value)
    if not out:
        raise ReportError(f"{platform} report has no {field}; it cannot be stored as a call")
    return out.strip()


def timestamp(value: Any) -> datetime | None:
    """An ISO 8601 string or Unix milliseconds, as an aware UTC datetime (None if neither)."""
    if isinstance(value, str) and value.strip():
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            ms = number(value)
            return _from_ms(ms)
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    return _from_ms(number(value))


def _from_ms(ms: float | None) -> datetime | None:
    if ms is None or ms <= 0:
        return None
    try:
        return datetime.fromtimestamp(ms / 1000.0, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def pseudonymised(phone: Any, redactor: Redactor | None = None) -> str | None:
    """The redactor's pseudonym for a phone number (None when there is none)."""
    value = text(phone)
    if value is None:
        return None
    redactor = redactor or default_redactor()
    clean = redactor.redact_attributes({"phone": value}).get("phone")
    return clean if isinstance(clean, str) and clean != value else "[PHONE]"


def replies(
    messages: Sequence[Any], *, bot: frozenset[str], user: frozenset[str], key: str
) -> list[str]:
    """The bot's replies to the caller, in order: bot messages after a user message, merged per reply.

    A greeting before the caller spoke is not a reply (the platforms time
    turns from the caller's words), and consecutive bot messages are one reply.
    """
    out: list[str] = []
    heard = False
    replying = False
    for m in messages:
        if not isinstance(m, Mapping):
            continue
        role = m.get("role")
        words = text(m.get(key))
        if role in user:
            heard, replying = True, False
        elif role in bot and heard and words:
            if replying:
                out[-1] = f"{out[-1]} {words}"
            else:
                out.append(words)
                replying = True
    return out


__all__ = ["pseudonymised", "replies", "required_id", "section", "timestamp"]
