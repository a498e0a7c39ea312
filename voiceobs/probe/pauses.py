"""Pauses inside a prompt: ``"I'd like to change {pause 900ms} my flight to Boston"``.

A caller who stops to think mid-sentence is the case that tells a patient
endpointer from one that jumps in; the pause is silence rendered into the
prompt at that point, so the prompt's EoS (its last speech frame) still
comes after it and anything the bot says during it is talk-over.
"""

from __future__ import annotations

import re

#: ``{pause 900ms}`` or ``{pause 1.5s}``.
_PAUSE = re.compile(r"\{\s*pause\s+([0-9]+(?:\.[0-9]+)?)\s*(ms|s)\s*\}")
#: The longest pause one marker may ask for.
MAX_PAUSE_MS = 30_000.0


def split_pauses(text: str) -> list[str | float]:
    """The prompt as text pieces and pauses (milliseconds), in order; ValueError on a bad marker.

    Text pieces are stripped and empty ones dropped, so ``"{pause 1s} hello"``
    is a pause then the words.
    """
    parts: list[str | float] = []
    pos = 0
    for m in _PAUSE.finditer(text):
        parts.append(text[pos : m.start()])
        ms = float(m.group(1)) * (1000.0 if m.group(2) == "s" else 1.0)
        if not 0 < ms <= MAX_PAUSE_MS:
            raise ValueError(f"{m.group(0)}: a pause must be more than 0 and at most 30 s")
        parts.append(ms)
        pos = m.end()
    parts.append(text[pos:])
    out: list[str | float] = []
    for part in parts:
        if isinstance(part, str):
            if "{" in part or "}" in part:
                raise ValueError(
                    f"cannot read {part.strip()!r}: write a pause as {{pause 900ms}} or {{pause 1.5s}}"
                )
            if part.strip():
                out.append(part.strip())
        else:
            out.append(part)
    if not any(isinstance(p, str) for p in out):
        raise ValueError("the prompt has pauses but no words")
    return out


__all__ = ["MAX_PAUSE_MS", "split_pauses"]
