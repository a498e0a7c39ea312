"""National identity numbers: US Social Security numbers and UK National Insurance numbers.

Both have issuing rules (no SSN area 000, 666 or 9xx; NI prefixes and
suffixes HMRC never uses), which lets a written value be taken wherever it
appears without a cue; nine bare digits count as an SSN only after an SSN
cue, and are otherwise redacted as digits anyway.
"""

from __future__ import annotations

import re

from voiceobs.redact.checksums import nino_valid, ssn_valid
from voiceobs.redact.scan import Scan
from voiceobs.redact.spelling import span_of

_SSN_RE = re.compile(r"(?<![\w-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\w]|-\w)")
_SSN_WRITTEN_CONTEXT_RE = re.compile(
    r"\b(?:ssn|social(?:\s+security)?(?:\s+number)?)\b\W{0,4}(?:is\s+)?(?P<n>\d{9})\b",
    re.IGNORECASE,
)
_NINO_RE = re.compile(
    r"\b([A-Z]{2})[ -]?(\d{2})[ -]?(\d{2})[ -]?(\d{2})[ -]?([A-D])\b", re.IGNORECASE
)


def detect_ssns(scan: Scan) -> None:
    """SSNs written ``123-45-6789`` / ``123 45 6789``, or nine digits after an SSN cue."""
    if scan.digits < 9:
        return
    text = scan.text
    for m in _SSN_RE.finditer(text):
        if ssn_valid(m.group(1), m.group(3), m.group(4)):
            scan.claim(m.start(), m.end(), "SSN", m.group(1) + m.group(3) + m.group(4))
    if "ssn" in scan.words or "social" in scan.words:
        for m in _SSN_WRITTEN_CONTEXT_RE.finditer(text):
            scan.claim(m.start("n"), m.end("n"), "SSN", m.group("n"))


def detect_ninos(scan: Scan) -> None:
    """NI numbers written (``AB 12 34 56 C``, ``ab123456c``) or spelled out."""
    if scan.digits >= 6:
        for m in _NINO_RE.finditer(scan.text):
            compact = "".join(m.groups()).upper()
            if nino_valid(compact):
                scan.claim(m.start(), m.end(), "NINO", compact)
    for _, _, chars in scan.spelled():
        if len(chars) < 9:
            continue
        s = "".join(c for c, _, _ in chars)
        for i in range(len(s) - 8):
            if nino_valid(s[i : i + 9]):
                start, end = span_of(chars, i, i + 9)
                scan.claim(start, end, "NINO", s[i : i + 9])


__all__ = ["detect_ninos", "detect_ssns"]
