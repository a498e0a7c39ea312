"""Characters spelled out one by one: "G B eight two W E S T", "J O H N", "S M I double T H".

Callers spell what a recogniser would get wrong (names, postcodes, IBANs,
national insurance numbers, booking codes), and ASR writes each letter as
its own word. Reading such a run back into characters, while remembering
which stretch of text each character came from, lets the checksum and
format detectors work on spoken values exactly as on written ones.
"""

from __future__ import annotations

import re

from voiceobs.redact.numbers import UNITS

_DIGIT_WORDS = "zero|oh|one|two|three|four|five|six|seven|eight|nine"
# "J as in juliet" / "B for Bravo" is one spelled letter.
_TOKEN = (
    rf"(?:[a-z]\s+(?:as\s+in|for)\s+[a-z]+|double|triple|{_DIGIT_WORDS}|[a-z]|\d{{1,6}})(?![\w'’])"
)
_SEP = r"(?:\s*[,.\-/]\s*|\s+)"
#: At least three spelled tokens in a row (letters, digit words, short digit groups).
SPELLED_RUN_RE = re.compile(rf"(?<![\w'’]){_TOKEN}(?:{_SEP}{_TOKEN}){{2,}}", re.IGNORECASE)
_PIECE_RE = re.compile(rf"{_TOKEN}", re.IGNORECASE)

#: One character read from a spelled run, with the text span of the word it came from.
SpelledChar = tuple[str, int, int]


def read_spelled(text: str, start: int, end: int) -> list[SpelledChar]:
    """The characters spelled in ``text[start:end]``, upper case, each with its source span.

    "double T" gives two T's with the span of "double T"; "oh" is a zero; a
    lone "o" is the letter O (callers say "oh" for the digit).
    """
    out: list[SpelledChar] = []
    repeat = 1
    rep_start = -1
    for m in _PIECE_RE.finditer(text, start, end):
        w = m.group(0)
        lw = w.lower()
        if lw in ("double", "triple"):
            repeat = 2 if lw == "double" else 3
            rep_start = m.start()
            continue
        s = rep_start if repeat > 1 else m.start()
        if " " in lw:
            chars = w[0].upper()  # "J as in juliet"
        elif lw in UNITS and lw != "o":
            chars = str(UNITS[lw])
        else:
            chars = w.upper()
        for ch in chars * repeat:
            out.append((ch, s, m.end()))
        repeat = 1
        rep_start = -1
    return out


def span_of(chars: list[SpelledChar], i: int, j: int) -> tuple[int, int]:
    """Text span covering spelled characters ``chars[i:j]``."""
    return chars[i][1], chars[j - 1][2]


__all__ = ["SPELLED_RUN_RE", "SpelledChar", "read_spelled", "span_of"]
