"""Numbers as callers say them: digit words, "oh", "double five", spoken years and days.

ASR engines write "four one five double five five" and "nineteen eighty
five" as words, so every detector that looks for digits needs the same
reading of those words; it lives here once.
"""

from __future__ import annotations

import re

UNITS: dict[str, int] = {
    "zero": 0, "oh": 0, "o": 0, "one": 1, "two": 2, "three": 3, "four": 4,
    "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
}  # fmt: skip
TEENS: dict[str, int] = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
TENS: dict[str, int] = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
ORDINALS: dict[str, int] = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
    "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12,
    "thirteenth": 13, "fourteenth": 14, "fifteenth": 15, "sixteenth": 16,
    "seventeenth": 17, "eighteenth": 18, "nineteenth": 19, "twentieth": 20, "thirtieth": 30,
}  # fmt: skip
MONTHS: dict[str, int] = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
MONTH_NAMES = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec"
)

UNIT_ALT = "zero|oh|o(?!')|one|two|three|four|five|six|seven|eight|nine"
TEEN_ALT = "|".join(TEENS)
TENS_ALT = "|".join(TENS)
NUMWORD_ALT = f"{TEEN_ALT}|{TENS_ALT}|one|two|three|four|five|six|seven|eight|nine"

#: Every word that can stand for digits in a spoken run.
NUMBER_WORDS: frozenset[str] = frozenset([*UNITS, *TEENS, *TENS, "hundred", "double", "triple"])

#: One spoken or written number token, as a regex fragment (case-insensitive use).
SPOKEN_TOKEN = rf"(?:(?:double|triple)\s+)?(?:{UNIT_ALT}|{TEEN_ALT}|{TENS_ALT}|hundred|\d+)\b"
#: Three or more such tokens, separated by spaces or by ", . -" as ASR writes pauses.
#: A pause inside a run: punctuation, a space, or a filler ("four one five um five five five").
RUN_SEP = r"(?:\s*[,.-]\s*|\s+)(?:(?:um+|uh+|er+m?|ah+|hmm+)\b[,.]?\s+)?"
SPOKEN_RUN_RE = re.compile(
    rf"(?<![\w'/.:-])(?:plus\s+)?{SPOKEN_TOKEN}(?:{RUN_SEP}{SPOKEN_TOKEN}){{2,}}",
    re.IGNORECASE,
)
RUN_TOKEN_RE = re.compile(r"[a-z]+|\d+|[,.!?]", re.IGNORECASE)


def spoken_digits(tokens: list[str]) -> tuple[str, bool, bool]:
    """Digits said in ``tokens``: (digits, whether any word was spoken, leading "plus").

    "twelve" is "12" and "forty two" is "42" because that is how people
    group phone numbers; "double five" is "55"; "eight hundred" is "800".
    """
    out: list[str] = []
    spoken = False
    plus = False
    repeat = 1
    words = [t.lower() for t in tokens if t not in ",.!?"]
    i = 0
    while i < len(words):
        w = words[i]
        i += 1
        if w == "plus" and not out:
            plus = True
            continue
        if w in ("double", "triple"):
            repeat = 2 if w == "double" else 3
            spoken = True
            continue
        if w.isdigit():
            piece = w
        else:
            spoken = True
            if w in UNITS:
                piece = str(UNITS[w])
            elif w in TEENS:
                piece = str(TEENS[w])
            elif w in TENS:
                nxt = words[i] if i < len(words) else ""
                if nxt in UNITS and UNITS[nxt] > 0 and nxt not in ("o", "oh"):
                    piece = str(TENS[w] + UNITS[nxt])
                    i += 1
                else:
                    piece = str(TENS[w])
            elif w == "hundred":
                piece = "00" if out else "100"
            else:
                continue
        out.append(piece * repeat)
        repeat = 1
    return "".join(out), spoken, plus


def run_digits(text: str) -> tuple[str, bool, bool]:
    """:func:`spoken_digits` of a matched run of text."""
    return spoken_digits(RUN_TOKEN_RE.findall(text))


def cardinal(words: list[str]) -> int | None:
    """Value of a spoken cardinal below 100 ("twenty one", "nine", "thirteen")."""
    if not words:
        return None
    w = words[0]
    if w in TENS:
        if len(words) == 1:
            return TENS[w]
        if len(words) == 2 and words[1] in UNITS and UNITS[words[1]] > 0:
            return TENS[w] + UNITS[words[1]]
        return None
    if len(words) == 1:
        if w in TEENS:
            return TEENS[w]
        if w in UNITS and w not in ("o", "oh"):
            return UNITS[w]
    return None


def spoken_year(text: str) -> int | None:
    """Parse "nineteen eighty five", "two thousand and one", "nineteen oh five", "eighty five"."""
    words = [w for w in re.split(r"[\s-]+", text.lower()) if w and w != "and"]
    if "thousand" in words:
        i = words.index("thousand")
        hi = cardinal(words[:i])
        rest = words[i + 1 :]
        lo = cardinal(rest) if rest else 0
        return None if hi is None or lo is None else hi * 1000 + lo
    split = 2 if words and words[0] in TENS and len(words) > 1 and words[1] in UNITS else 1
    hi = cardinal(words[:split])
    rest = words[split:]
    if hi is None:
        return None
    if not rest:
        # "born in eighty five": a two-digit year.
        return 1900 + hi if 20 <= hi <= 99 else None
    if rest == ["hundred"]:
        return hi * 100
    if rest[0] in ("oh", "o") and len(rest) == 2 and rest[1] in UNITS:
        return hi * 100 + UNITS[rest[1]]
    lo = cardinal(rest)
    return None if lo is None else hi * 100 + lo


def day_value(text: str) -> int | None:
    """Day of month from "3rd", "third", "twenty first", "21"."""
    t = text.lower().strip()
    m = re.match(r"(\d{1,2})", t)
    if m:
        return int(m.group(1))
    words = [w for w in re.split(r"[\s-]+", t) if w]
    if len(words) == 1 and words[0] in ORDINALS:
        return ORDINALS[words[0]]
    if len(words) == 2 and words[0] in TENS:
        unit = ORDINALS.get(words[1]) or UNITS.get(words[1])
        return TENS[words[0]] + unit if unit else None
    return cardinal(words)


def year_value(text: str) -> int | None:
    """Year from "1985", "'85", "85" or its spoken form."""
    t = text.strip().lower()
    if t.isdigit() and len(t) == 4:
        return int(t)
    if t.isdigit() and len(t) == 2:
        return 1900 + int(t)
    if t.startswith(("'", "’")) and t[1:].isdigit():
        return 1900 + int(t[1:])
    return spoken_year(t)


__all__ = [
    "MONTHS",
    "MONTH_NAMES",
    "NUMBER_WORDS",
    "ORDINALS",
    "SPOKEN_RUN_RE",
    "SPOKEN_TOKEN",
    "TEENS",
    "TENS",
    "UNITS",
    "cardinal",
    "day_value",
    "run_digits",
    "spoken_digits",
    "spoken_year",
    "year_value",
]
