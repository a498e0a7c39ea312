"""Digit runs, written and spoken: phone numbers, card numbers, SSNs, other long identifiers.

Any run of seven or more digits is taken: phone numbers in every national
format, card numbers, account numbers all have at least that many, while
ordinary numbers (times, prices, quantities, flight numbers, years) have
fewer. What a run is called comes from checks: Luhn makes it a card, a
valid number for the default region (or, written with a trunk zero, for
another common region) makes it a phone, normalised to E.164 so every
form of one number shares a pseudonym.

A run is not a phone number when it is a date (``12/25/2024``), a
decimal or a thousands-grouped amount (``3.1415926``, ``12.499.000``), a
version (``10.0.19041.1234``), or money or a percentage.
"""

from __future__ import annotations

import re

import phonenumbers

from voiceobs.redact.checksums import luhn
from voiceobs.redact.numbers import NUMBER_WORDS, SPOKEN_RUN_RE, SPOKEN_TOKEN, run_digits
from voiceobs.redact.scan import Scan

#: Fewest digits a run needs before it is treated as an identifier.
MIN_DIGIT_RUN = 7

#: Regions tried, after the default one, for a number written in national form.
FALLBACK_REGIONS = ("GB", "DE", "FR", "ES", "IT", "NL", "IE", "AU", "IN", "CA", "BR", "MX", "JP")

_GROUP = r"(?:\(\s?\+?\d{1,5}\s?\)|\d+)"
_SEP = r"(?:[ \t]?[-./][ \t]?|[ \t]{1,2}|(?<=\))|(?=\())"
# A run starts and ends at a word's edge: digits inside an id ("9f41234567ab") are not taken;
# after an underscore they are ("sip_+14155551212", "caller_4155551212").
_PHONE_RUN_RE = re.compile(
    rf"(?<![A-Za-z0-9+.,@\-])(?<!\d:)(?:\+\s?|\b00\s?)?{_GROUP}(?:{_SEP}{_GROUP})*"
    r"(?:(?![A-Za-z0-9_])|(?=(?:x|ext)\.?\d))"
)
_EXT_RE = re.compile(r"\s*,?\s*(?:ext\.?|extension|x|#)\s*(\d{1,6})\b", re.IGNORECASE)
_SPOKEN_EXT_RE = re.compile(
    rf"\s*,?\s*(?:ext\.?|extension)\s+(?P<x>{SPOKEN_TOKEN}(?:\s+{SPOKEN_TOKEN}){{0,5}})",
    re.IGNORECASE,
)
_RUN_STARTS = NUMBER_WORDS | {"plus"}
#: Everything but digits (``NON_DIGIT.sub("", s)`` keeps the digits of ``s``).
NON_DIGIT = re.compile(r"\D")
_DIGIT_GROUP = re.compile(r"\d+")
_NOT_SEP = re.compile(r"[\d\s()+]")
_OH_LEAD = re.compile(r"o(?:h)?\s*[,.!?]\s*", re.IGNORECASE)
_DIGIT_START = re.compile(r"(?<![\w'/.:-])\d")
_DATE_SHAPE = re.compile(r"\d{1,4}([/.-])\d{1,2}\1\d{1,4}")
_THOUSANDS = re.compile(r"\d{1,3}(?:\.\d{3})+")
_YEAR_RANGE = re.compile(r"(?:19|20)\d{2}\s?[-–/]\s?(?:19|20)\d{2}")
#: Money just before a run ("$", "EUR "): an amount, not an identifier.
CURRENCY_BEFORE = re.compile(r"(?:[$€£¥₹]|\b(?:usd|eur|gbp|chf|jpy|inr|aud|cad))\s?$", re.I)
#: A unit or currency just after a run ("%", " dollars", " ms"): a quantity, not an identifier.
UNIT_AFTER = re.compile(
    r"\s?(?:%|percent\b|per\s+cent\b|dollars?\b|euros?\b|pounds?\b|bucks\b|usd\b|eur\b|gbp\b|"
    r"k?m\b|km\b|kg\b|mb\b|gb\b|kb\b|bytes?\b|ms\b|seconds?\b|miles?\b|meters?\b|people\b|"
    r"users?\b|views?\b|downloads?\b|copies\b|units\b|items\b|steps\b|calories\b)",
    re.IGNORECASE,
)
_SSN_CONTEXT_RE = re.compile(r"\b(?:ssn|social(?:\s+security)?(?:\s+number)?)\b", re.IGNORECASE)


def classify_digits(
    digits: str,
    region: str,
    *,
    international: bool = False,
    before: str = "",
    raw: str = "",
    cache: dict[tuple[str, str, bool, str], str | None] | None = None,
) -> tuple[str, str]:
    """Kind and normalised value of a digit run: CARD, SSN, PHONE or DIGITS.

    ``raw`` (the run as written) lets phone parsing read a national trunk
    zero or a ``(0)``; ``before`` is the text before the run, where an SSN
    cue would be.
    """
    n = len(digits)
    if 13 <= n <= 19 and luhn(digits):
        return "CARD", digits
    if n == 9 and _SSN_CONTEXT_RE.search(before[-40:]):
        return "SSN", digits
    if n <= 17:
        e164 = phone_e164(digits, region, international=international, raw=raw, cache=cache)
        if e164 is not None:
            return "PHONE", e164
    return "DIGITS", digits


def phone_e164(
    digits: str,
    region: str,
    *,
    international: bool = False,
    raw: str = "",
    cache: dict[tuple[str, str, bool, str], str | None] | None = None,
) -> str | None:
    """E.164 form of a phone number, or None when no common region accepts it.

    Parsing is the dearest step of redaction, and one caller's number recurs
    in every span of a call, so answers are kept in ``cache`` when given.
    """
    if cache is None:
        return _phone_e164(digits, region, international, raw)
    key = (digits, region, international, raw)
    try:
        return cache[key]
    except KeyError:
        pass
    if len(cache) >= 4096:
        cache.clear()
    found = cache[key] = _phone_e164(digits, region, international, raw)
    return found


def _phone_e164(digits: str, region: str, international: bool, raw: str) -> str | None:
    if digits.startswith("00") and len(digits) > 9:
        digits, international = digits[2:], True
    candidates: list[tuple[str, str | None]] = []
    if international:
        if raw:
            candidates.append(("+" + raw[2:] if raw.startswith("00") else raw, None))
        candidates.append(("+" + digits, None))
    else:
        text = raw or digits
        candidates.append((text, region))
        if digits.startswith("0") or "(0)" in text:
            candidates.extend((text, r) for r in FALLBACK_REGIONS if r != region)
        # A national number said with its country code but no plus ("four four two oh ...").
        candidates.append(("+" + digits, None))
    for text, reg in candidates:
        try:
            number = phonenumbers.parse(text, reg)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None


def detect_written_runs(scan: Scan) -> None:
    """Phone numbers in any written format, and every other run of seven or more digits."""
    if scan.digits < MIN_DIGIT_RUN:
        return
    text = scan.text
    for m in _PHONE_RUN_RE.finditer(text):
        raw = m.group(0)
        digits = NON_DIGIT.sub("", raw)
        if len(digits) < MIN_DIGIT_RUN or not _is_identifier(text, m.start(), m.end(), raw):
            continue
        start, end = m.start(), m.end()
        if not scan.free(start, end):
            # Part of the run is taken (an IP, a card inside a longer run): claim the rest
            # piece by piece, so digits beside a finding are not left behind.
            _claim_free_groups(scan, start, end)
            continue
        ext = _EXT_RE.match(text, end)
        if ext:
            end = ext.end()
        international = raw.startswith("+") or raw.startswith("00")
        kind, norm = classify_digits(
            digits,
            scan.region,
            international=international,
            before=text[:start],
            raw=raw,
            cache=scan.phone_cache,
        )
        scan.claim(start, end, kind, norm)


def _claim_free_groups(scan: Scan, start: int, end: int) -> None:
    text = scan.text
    for g in _DIGIT_GROUP.finditer(text[start:end]):
        s, e = start + g.start(), start + g.end()
        if scan.free(s, e) and e - s >= 3:
            scan.claim(s, e, "DIGITS", g.group(0))


def _is_identifier(text: str, start: int, end: int, raw: str) -> bool:
    """False for runs that are dates, decimals, amounts, versions or measurements."""
    if CURRENCY_BEFORE.search(text[max(0, start - 5) : start]) or UNIT_AFTER.match(text, end):
        return False
    if raw.startswith(("+", "00")):
        return True  # an international prefix: a phone number whatever the grouping
    seps = set(_NOT_SEP.sub("", raw))
    groups = _DIGIT_GROUP.findall(raw)
    if len(groups) == 3 and _DATE_SHAPE.fullmatch(raw):
        return False
    if _YEAR_RANGE.fullmatch(raw):
        return False
    if seps == {"."}:
        if len(groups) == 2 and not (groups[0].startswith("0") and len(groups[0]) > 1):
            return False  # a decimal number
        if any(len(g) == 1 for g in groups[1:]):
            return False  # a version or build number
        if _THOUSANDS.fullmatch(raw):
            # "12.499.000" is an amount, "912.340.946" a phone number: ask the regions.
            digits = "".join(groups)
            return any(_valid_in(digits, r) for r in ("US", *FALLBACK_REGIONS))
    return True


def _valid_in(digits: str, region: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(digits, region))
    except phonenumbers.NumberParseException:
        return False


def detect_spoken_runs(scan: Scan) -> None:
    """Digits said as words ("four one five, double five five, one two one two")."""
    words = scan.words
    if words.isdisjoint(NUMBER_WORDS):
        return
    text = scan.text
    anchors = scan.positions(words & _RUN_STARTS)
    if scan.digits:
        anchors = sorted(anchors + [m.start() for m in _DIGIT_START.finditer(text)])
    last = -1
    for pos in anchors:
        if pos < last:
            continue
        m = SPOKEN_RUN_RE.match(text, pos)
        if m is None:
            continue
        last = m.end()
        start, end = m.start(), m.end()
        raw = m.group(0)
        # A leading "oh," is an interjection, not a zero.
        lead = _OH_LEAD.match(raw)
        if lead:
            start += lead.end()
            raw = raw[lead.end() :]
        digits, spoken, plus = run_digits(raw)
        if len(digits) < MIN_DIGIT_RUN or not spoken:
            continue
        if not scan.free(start, end):
            continue
        ext = _SPOKEN_EXT_RE.match(text, end)
        if ext:
            end = ext.end()
        kind, norm = classify_digits(
            digits, scan.region, international=plus, before=text[:start], cache=scan.phone_cache
        )
        scan.claim(start, end, kind, norm)


__all__ = [
    "CURRENCY_BEFORE",
    "FALLBACK_REGIONS",
    "MIN_DIGIT_RUN",
    "NON_DIGIT",
    "UNIT_AFTER",
    "classify_digits",
    "detect_spoken_runs",
    "detect_written_runs",
    "phone_e164",
]
