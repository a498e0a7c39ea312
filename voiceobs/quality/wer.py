"""Word error rate between what a reply should have said and what it said.

Raw WER punishes formatting, not understanding: "It's 2 PM." and "its two
p m" are the same answer. Both sides are normalised the same way before
jiwer counts edits: lower case, digits spelled out ("2" -> "two",
"3.5" -> "three point five", "42%" -> "forty two percent"), punctuation
and extra whitespace dropped, apostrophes removed inside words.
"""

from __future__ import annotations

import re

import jiwer

from voiceobs.errors import QualityError

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")


def _int_words(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f" {_ONES[ones]}" if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_ONES[hundreds]} hundred" + (f" {_int_words(rest)}" if rest else "")
    for value, name in _SCALES:
        if n >= value:
            high, rest = divmod(n, value)
            return f"{_int_words(high)} {name}" + (f" {_int_words(rest)}" if rest else "")
    raise AssertionError("unreachable")  # pragma: no cover


def number_to_words(token: str) -> str:
    """Spell out ``"1,250"`` or ``"3.14"``; long digit strings are read digit by digit."""
    whole, _, frac = token.replace(",", "").partition(".")
    # Card and account numbers are read out digit by digit.
    digits = " ".join(_ONES[int(d)] for d in whole)
    words = digits if len(whole) > 15 else _int_words(int(whole))
    if frac:
        words += " point " + " ".join(_ONES[int(d)] for d in frac)
    return words


def normalize(text: str) -> str:
    """The normal form both sides of a WER comparison are reduced to."""
    text = text.lower().replace("%", " percent ").replace("&", " and ")
    text = _NUMBER.sub(lambda m: f" {number_to_words(m.group(0))} ", text)
    text = re.sub(r"(?<=\w)['’](?=\w)", "", text)  # it's -> its
    text = re.sub(r"[^\w\s]|_", " ", text)
    return " ".join(text.split())


def wer(expected: str, transcript: str) -> float:
    """Word error rate of ``transcript`` against ``expected`` after normalising both.

    0.0 is a perfect match; it can exceed 1.0 when the transcript adds
    words. An expected text with no words is a spec error, not a score.
    """
    ref = normalize(expected)
    hyp = normalize(transcript)
    if not ref:
        raise QualityError(
            "no_reference", "expected text has no words; give the reply text to compare"
        )
    if not hyp:
        return 1.0
    return float(jiwer.wer(ref, hyp))


__all__ = ["normalize", "number_to_words", "wer"]
