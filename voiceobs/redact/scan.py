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


class Scan:
    """Features of ``text`` and the findings claimed on it.

    ``words`` holds the lower-case words (with apostrophes, so "name's" and
    "i'm" stay whole); detectors gate on it before running any pattern.
    """

    __slots__ = ("_spelled", "digits", "lower", "region", "taken", "text", "words")

    def __init__(self, text: str, region: str) -> None:
        self.text = text
        self.lower = text.lower()
        self.region = region
        raw = text.encode("utf-8", "surrogatepass")
        self.digits = len(raw) - len(raw.translate(None, _DIGITS))
        self.words: frozenset[str] = frozenset(_WORD_RE.findall(self.lower))
        self.taken: list[Finding] = []
        self._spelled: list[tuple[int, int, list[SpelledChar]]] | None = None

    def spelled(self) -> list[tuple[int, int, list[SpelledChar]]]:
        """Runs of spelled characters ("G B eight two W E S T"), read once per text."""
        if self._spelled is None:
            self._spelled = []
            if _SPELLED_GATE.search(self.text):
                for m in SPELLED_RUN_RE.finditer(self.text):
                    chars = read_spelled(self.text, m.start(), m.end())
                    self._spelled.append((m.start(), m.end(), chars))
        return self._spelled

    def free(self, start: int, end: int) -> bool:
        """True when no claim overlaps ``[start, end)``."""
        for s, e, _, _, _ in self.taken:
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

    def findings(self) -> list[Finding]:
        """The claims that change text, in text order."""
        return sorted(t for t in self.taken if t[2] or t[4] is not None)


__all__ = ["Finding", "Scan"]
