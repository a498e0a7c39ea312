"""Dates of birth, numeric and spoken, after the cues that mark them.

A date is personal only as a birth date: "the appointment is on March 3rd
1985" is ordinary text, "I was born on March 3rd 1985" is not. So dates
are taken only after a birth cue ("born", "date of birth", "DOB",
"birthday"), in every form a caller or an ASR engine gives them: numeric
(``03/04/1985``, ``1985-03-04``, ``3 4 85``), with month names, spoken
("the third of March nineteen eighty five", "oh three oh four eighty five").
"""

from __future__ import annotations

import re

from voiceobs.redact.numbers import (
    MONTH_NAMES,
    MONTHS,
    NUMWORD_ALT,
    ORDINALS,
    SPOKEN_TOKEN,
    TEEN_ALT,
    day_value,
    run_digits,
    year_value,
)
from voiceobs.redact.scan import Scan

#: Regions whose numeric dates put the month first.
MONTH_FIRST_REGIONS = frozenset({"US", "CA", "PH", "FM", "PW", "MH"})

_F = re.IGNORECASE
_DAY_WORD = (
    r"(?:(?:twenty|thirty)[\s-]+(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth"
    r"|one|two|three|four|five|six|seven|eight|nine)"
    rf"|{'|'.join(ORDINALS)}|{TEEN_ALT}|twenty|thirty|one|two|three|four|five|six|seven"
    r"|eight|nine)"
)
DAY = rf"(?:\d{{1,2}}(?:st|nd|rd|th)?|{_DAY_WORD})\b"
_SPOKEN_YEAR = (
    rf"(?:{NUMWORD_ALT})(?:[\s-]+(?:and\s+)?(?:{NUMWORD_ALT}|oh|o(?!')|hundred|thousand)\b){{1,4}}"
)
_YEAR_ALONE = rf"(?:\d{{4}}\b|['’]\d{{2}}\b|{_SPOKEN_YEAR})"
# After a day and month, a two-digit year is unambiguous ("March 3rd 85").
_YEAR = rf"(?:\d{{4}}\b|['’]\d{{2}}\b|\d{{2}}\b|{_SPOKEN_YEAR})"
_MONTH = rf"(?:{MONTH_NAMES})\b\.?"
_CUE_RE = re.compile(
    r"\b(?:born|date\s+of\s+birth|birth\s*date|birth\s+year|year\s+of\s+birth|birthday|b-?day|d\.?o\.?b\b\.?)"
    r"(?:['’]s\s+|\s*[:,=-]\s*|\s+)(?:(?:is|was|on|in|it's|its|of|the)\s+)*",
    _F,
)
_DATE_RE = re.compile(
    r"\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})\b"
    r"|\d{4}[/.-]\d{1,2}[/.-]\d{1,2}\b"
    r"|\d{1,2}\s+\d{1,2}\s+(?:\d{4}|\d{2})\b"
    rf"|{_MONTH}\s+(?:the\s+)?{DAY}(?:\s*,?\s*(?:of\s+|in\s+)?{_YEAR})?"
    rf"|(?:the\s+)?{DAY}\s+(?:of\s+)?{_MONTH}(?:\s*,?\s*{_YEAR})?"
    rf"|{_MONTH}\s*,?\s*\d{{4}}\b"
    rf"|{_YEAR_ALONE}",
    _F,
)
_SPOKEN_NUMERIC_RE = re.compile(
    rf"{SPOKEN_TOKEN}(?:(?:\s*[,./-]\s*|\s+(?:slash|dash)\s+|\s+){SPOKEN_TOKEN}){{2,9}}", _F
)
_ANCHORS = frozenset(
    {"born", "date", "birth", "birthdate", "year", "birthday", "b", "bday", "d", "dob"}
)
CUE_WORDS = frozenset({"born", "birth", "birthday", "birthdate", "dob", "bday", "b-day"})


def detect_dobs(scan: Scan) -> None:
    """Dates after a birth cue."""
    if scan.words.isdisjoint(CUE_WORDS) and "d.o.b" not in scan.lower:
        return
    text = scan.text
    for anchor in scan.positions(scan.words & _ANCHORS):
        cue = _CUE_RE.match(text, anchor)
        if cue is None:
            continue
        pos = cue.end()
        spoken = _SPOKEN_NUMERIC_RE.match(text, pos)
        written = _DATE_RE.match(text, pos)
        if spoken and (not written or spoken.end() > written.end()):
            digits, _, _ = run_digits(spoken.group(0))
            if 4 <= len(digits) <= 8:
                norm = _numeric_norm(digits, scan.region)
                scan.claim(pos, spoken.end(), "DOB", norm)
                continue
        if written:
            raw = written.group(0)
            end = written.end()
            # A trailing full stop ends the sentence, not the date.
            scan.claim(pos, end, "DOB", dob_norm(raw, scan.region))


def _numeric_norm(digits: str, region: str) -> str:
    """ISO date from digits said one by one: MMDDYYYY / DDMMYYYY by region, or MMDDYY."""
    if len(digits) in (6, 8):
        a, b, year_s = digits[:2], digits[2:4], digits[4:]
        year = int(year_s) if len(year_s) == 4 else 1900 + int(year_s)
        month, day = (int(a), int(b)) if region in MONTH_FIRST_REGIONS else (int(b), int(a))
        if 1 <= month <= 12 and 1 <= day <= 31:
            return f"{year:04d}-{month:02d}-{day:02d}"
    return digits


def dob_norm(raw: str, region: str) -> str:
    """ISO form of a spoken or written date, so "03/04/1985" and "March 4th 1985" agree."""
    text = raw.strip().lower().rstrip(".")
    num = re.fullmatch(r"(\d{1,4})[/.\-\s]+(\d{1,2})[/.\-\s]+(\d{1,4})", text)
    year: int | None = None
    month: int | None = None
    day: int | None = None
    if num:
        a, b, c = (int(g) for g in num.groups())
        if len(num.group(1)) == 4:
            year, month, day = a, b, c
        else:
            year = c if len(num.group(3)) == 4 else 1900 + c
            month, day = (a, b) if region in MONTH_FIRST_REGIONS else (b, a)
    else:
        mm = re.search(rf"\b({MONTH_NAMES})\b", text)
        if mm:
            month = MONTHS[mm.group(1)[:3]]
            before = text[: mm.start()].strip()
            after = text[mm.end() :].strip(" .,")
            before = re.sub(r"^the\s+|\s+of$", "", before).strip()
            after = re.sub(r"^the\s+", "", after)
            if before:
                day = day_value(before)
                year = year_value(after) if after else None
            else:
                dm = re.match(DAY, after, _F)
                if dm and not re.fullmatch(r"\d{4}", after):
                    day = day_value(dm.group(0))
                    rest = after[dm.end() :].strip(" ,")
                    rest = re.sub(r"^(?:of|in)\s+", "", rest)
                    year = year_value(rest) if rest else None
                else:
                    year = year_value(after) if after else None
        else:
            year = year_value(text)
    if month is None and day is None and year is not None:
        return f"{year:04d}"
    if month is not None and day is not None and 1 <= month <= 12 and 1 <= day <= 31:
        return f"{year:04d}-{month:02d}-{day:02d}" if year else f"--{month:02d}-{day:02d}"
    if month is not None and day is None and year is not None:
        return f"{year:04d}-{month:02d}"
    return " ".join(text.split())


__all__ = ["CUE_WORDS", "MONTH_FIRST_REGIONS", "detect_dobs", "dob_norm"]
