"""One text being scanned: its cheap features, and the findings claimed so far.

Detectors run in a fixed priority order and each claims stretches of the
text; a later detector never takes what an earlier one claimed. The
features (lower-cased text, digit count, the set of words) are computed
once, so each detector can decide in a set lookup whether it has anything
to look at, which is what keeps ordinary span attributes cheap.
"""

from __future__ import annotations

import re

from voiceobs.redact.spelling import SPELLED_RUN_RE, SpelledChar, read_spelled
from voiceobs.redact.words import word_set

#: A finding: (start, end, kind, normalised value, replacement text or None).
#: Kind "" protects a stretch (a placeholder already there, a URL part kept readable).
Finding = tuple[int, int, str, str, str | None]

_WORD_RE = re.compile(r"[a-z]+(?:['’][a-z]+)?")
# Two single letters in a row (not "a"/"i"): the least a spelled run needs.
_SEP = r"(?:\s*[,.\-]\s*|\s+)"
_DIGIT_WORD = r"(?:zero|oh|one|two|three|four|five|six|seven|eight|nine|double|triple)"
# Two spelled tokens in a row, at least one a letter other than the words "a" and "I".
_SPELLED_GATE = re.compile(
    rf"(?<![\w'’])(?:[b-hj-z]{_SEP}(?:[a-z0-9]|{_DIGIT_WORD})|[ai]{_SEP}[b-hj-z0-9]"
    rf"|{_DIGIT_WORD}{_SEP}[b-hj-z])(?![\w'’])",
    re.I,
)
_DIGITS = b"0123456789"
_WORD_LETTERS = frozenset({"a", "i"})
_DIGIT_WORDS = word_set("zero oh one two three four five six seven eight nine double triple")


def _contraction(lower: str, i: int) -> bool:
    """True when an apostrophe before ``lower[i]`` joins a word ("i'm"), not a possessive 's."""
    if i >= len(lower) or not lower[i].isalpha():
        return False
    return not (lower[i] == "s" and (i + 1 >= len(lower) or not lower[i + 1].isalnum()))


class Scan:
    """Features of ``text`` and the findings claimed on it.

    ``words`` holds the lower-case words (with apostrophes, so "name's" and
    "i'm" stay whole); detectors gate on it before running any pattern.
    """

    __slots__ = ("_spelled", "digits", "lower", "phone_cache", "region", "taken", "text", "words")

    def __init__(
        self,
        text: str,
        region: str,
        phone_cache: dict[tuple[str, str, bool, str], str | None] | None = None,
    ) -> None:
        self.text = text
        self.phone_cache = phone_cache
        self.lower = text.lower()
        self.region = region
        raw = text.encode("utf-8", "surrogatepass")
        self.digits = len(raw) - len(raw.translate(None, _DIGITS))
        words = _WORD_RE.findall(self.lower)
        if "'" in self.lower or "’" in self.lower:
            # "pin's", "name's": the word itself is a cue too.
            words += [w[:-2] for w in words if w.endswith(("'s", "’s"))]
        self.words: frozenset[str] = frozenset(words)
        self.taken: list[Finding] = []
        self._spelled: list[tuple[int, int, list[SpelledChar]]] | None = None

    def spelled(self) -> list[tuple[int, int, list[SpelledChar]]]:
        """Runs of spelled characters ("G B eight two W E S T"), read once per text."""
        if self._spelled is None:
            self._spelled = []
            # A spelled run needs a one-letter word; "a" and "I" alone are only words,
            # unless digits are spelled beside them ("A one two three").
            singles = {w for w in self.words if len(w) == 1}
            if (
                singles
                and (singles - _WORD_LETTERS or not self.words.isdisjoint(_DIGIT_WORDS))
                and _SPELLED_GATE.search(self.text)
            ):
                for m in SPELLED_RUN_RE.finditer(self.text):
                    chars = read_spelled(self.text, m.start(), m.end())
                    self._spelled.append((m.start(), m.end(), chars))
        return self._spelled

    def positions(self, words: frozenset[str] | set[str]) -> list[int]:
        """Where each of ``words`` (lower case) starts as a whole word, in text order.

        Detectors anchor their patterns at these positions instead of
        scanning the whole text with a long alternation, which is what an
        ordinary sentence with a cue word in it would otherwise cost.
        """
        lower = self.lower
        n = len(lower)
        out: list[int] = []
        for w in words:
            size = len(w)
            i = lower.find(w)
            while i >= 0:
                end = i + size
                before = lower[i - 1] if i else " "
                after = lower[end] if end < n else " "
                if not (before.isalnum() or before in "'’") and not (
                    after.isalnum() or (after in "'’" and _contraction(lower, end + 1))
                ):
                    out.append(i)
                i = lower.find(w, i + 1)
        out.sort()
        return out

    def free(self, start: int, end: int) -> bool:
        """True when no claim overlaps ``[start, end)``."""
        # A plain loop: called for every candidate, it is cheaper than all() over a generator.
        for s, e, _, _, _ in self.taken:  # noqa: SIM110
            if start < e and s < end:
                return False
        return True

    def claim(
        self, start: int, end: int, kind: str, norm: str, replacement: str | None = None
    ) -> bool:
        """Take ``[start, end)`` as ``kind`` unless it overlaps a claim; True if taken."""
        if end <= start or not self.free(start, end):
            return False
        self.taken.append((start, end, kind, norm, replacement))
        return True

    def protect(self, start: int, end: int) -> None:
        """Keep ``[start, end)`` as it is: later detectors may not claim it."""
        self.claim(start, end, "", "")

    def protect_free(self, start: int, end: int) -> None:
        """Protect every part of ``[start, end)`` that no claim covers yet."""
        pos = start
        for s, e, _, _, _ in sorted(self.taken):
            if e <= pos or s >= end:
                continue
            if s > pos:
                self.taken.append((pos, s, "", "", None))
            pos = max(pos, e)
        if pos < end:
            self.taken.append((pos, end, "", "", None))

    def findings(self) -> list[Finding]:
        """The claims that change text, in text order."""
        return sorted(t for t in self.taken if t[2] or t[4] is not None)


__all__ = ["Finding", "Scan"]
