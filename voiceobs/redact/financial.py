"""Payment cards (Luhn-checked) and IBANs (mod-97 checked, every country's length).

IBANs are found grouped in fours or as one run, in any case, and spelled
out letter by letter ("G B eight two W E S T ..."); only a value with the
right length for its country and a passing check is taken, so codes that
merely start with two letters and two digits survive.
"""

from __future__ import annotations

import re

from voiceobs.redact.checksums import IBAN_LENGTHS, iban_valid, luhn
from voiceobs.redact.scan import Scan
from voiceobs.redact.spelling import span_of

_WRITTEN_CARD_RUN_RE = re.compile(r"(?<![\w./:-])\d+(?:[ -]\d+)*(?![\w/]|-\w|[.:]\d)")
_IBAN_RE = re.compile(r"\b[A-Z]{2}\d{2}(?:[ \-]?[A-Z0-9]){11,32}", re.IGNORECASE)
_ALNUM = re.compile(r"[A-Za-z0-9]")


def detect_written_cards(scan: Scan) -> None:
    """Card numbers written in groups or as one run: the longest Luhn-valid 13-19 digits."""
    if scan.digits < 13:
        return
    for m in _WRITTEN_CARD_RUN_RE.finditer(scan.text):
        groups = re.split(r"[ -]", m.group(0))
        offsets = []
        pos = m.start()
        for g in groups:
            offsets.append(pos)
            pos += len(g) + 1
        best: tuple[int, int, str] | None = None
        for i in range(len(groups)):
            digits = ""
            for j in range(i, len(groups)):
                digits += groups[j]
                if len(digits) > 19:
                    break
                if (
                    len(digits) >= 13
                    and luhn(digits)
                    and (best is None or len(digits) > len(best[2]))
                ):
                    best = (offsets[i], offsets[j] + len(groups[j]), digits)
        if best:
            scan.claim(best[0], best[1], "CARD", best[2])


def detect_written_ibans(scan: Scan) -> None:
    """IBANs written grouped or compact, upper or lower case."""
    if scan.digits < 8:
        return
    text = scan.text
    pos = 0
    while True:
        m = _IBAN_RE.search(text, pos)
        if m is None:
            return
        found = _iban_at(text, m.start(), m.end())
        if found is not None:
            end, compact = found
            scan.claim(m.start(), end, "IBAN", compact)
            pos = end
        else:
            pos = m.start() + 2


def _iban_at(text: str, start: int, limit: int) -> tuple[int, str] | None:
    country = text[start : start + 2].upper()
    length = IBAN_LENGTHS.get(country)
    if length is None:
        return None
    chars: list[str] = []
    end = start
    for c in _ALNUM.finditer(text, start, limit):
        chars.append(c.group(0).upper())
        end = c.end()
        if len(chars) == length:
            break
    compact = "".join(chars)
    if len(compact) != length or not iban_valid(compact):
        return None
    if end < len(text) and text[end].isalnum() and text[end - 1] != " ":
        return None  # the run goes on inside the same word: not this IBAN
    return end, compact


def detect_spelled_ibans(scan: Scan) -> None:
    """IBANs said one character at a time."""
    for _, _, chars in scan.spelled():
        if len(chars) < 15:
            continue
        s = "".join(c for c, _, _ in chars)
        i = 0
        while i + 15 <= len(s):
            length = IBAN_LENGTHS.get(s[i : i + 2])
            if length and i + length <= len(s) and s[i + 2 : i + 4].isdigit():
                compact = s[i : i + length]
                if not iban_valid(compact) and "O" in compact[2:]:
                    # A spelled "o" may have meant zero.
                    compact = compact[:2] + compact[2:].replace("O", "0")
                if iban_valid(compact):
                    start, end = span_of(chars, i, i + length)
                    scan.claim(start, end, "IBAN", compact)
                    i += length
                    continue
            i += 1


__all__ = ["detect_spelled_ibans", "detect_written_cards", "detect_written_ibans"]
