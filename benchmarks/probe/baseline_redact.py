"""Baseline for bench_redaction.py: voiceobs/redact.py as of commit 6f7f0bc, unchanged below.

Kept verbatim so every benchmark run measures today's redactor against the one it
replaced, on the same machine in the same run. Not imported by voiceobs.

PII redaction for transcripts, span names and span attributes, written and spoken.

Voice transcripts carry personal data the way people say it, not the way
forms write it: "four one five, five five five, one two one two", "john dot
smith at gmail dot com", "born on March third nineteen eighty five". A
redactor that only knows written patterns lets exactly the data a voice
system handles leak into traces, so every detector here has a spoken form.

Each finding becomes a typed placeholder (``[PHONE]``, ``[CARD]``, ``[SSN]``,
``[EMAIL]``, ``[IBAN]``, ``[IP]``, ``[DOB]``, ``[DIGITS]``). With a key
(argument or ``VOICEOBS_REDACT_KEY``) it becomes a keyed HMAC pseudonym of
the *normalised* value instead (``[PHONE:3f9a1c2b]``): the same number said
two ways maps to the same pseudonym, so one caller can be followed across
calls without anyone being able to read who it is.

Ordinary numbers ("2 tickets", "flight 370", "press one", "at 5:30", a year)
survive: only runs of seven or more digits, or values that pass a checksum or
a phone-number validity check, are taken. Loopback and unspecified IP
addresses are kept because they identify no one and appear in every local
target URL.

Spans carry many short attributes, so the common case must be cheap: a
string with no digit, no ``@``, no IPv6-like colons and no number/“at”/“dot”/
birth word returns at once, without running any detector.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import phonenumbers

#: Environment variable holding the pseudonym key (any string; its UTF-8 bytes are used).
KEY_ENV = "VOICEOBS_REDACT_KEY"

#: The placeholder kinds, in the order detectors get first claim on the text.
KINDS: tuple[str, ...] = ("EMAIL", "IBAN", "IP", "DOB", "SSN", "CARD", "PHONE", "DIGITS")

#: Fewest digits a run needs before it is treated as an identifier.
MIN_DIGIT_RUN = 7

_UNITS = {
    "zero": 0, "oh": 0, "o": 0, "one": 1, "two": 2, "three": 3, "four": 4,
    "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
}  # fmt: skip
_TEENS = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
    "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12,
    "thirteenth": 13, "fourteenth": 14, "fifteenth": 15, "sixteenth": 16,
    "seventeenth": 17, "eighteenth": 18, "nineteenth": 19, "twentieth": 20, "thirtieth": 30,
}  # fmt: skip
_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_MONTH_NAMES = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec"
)
_SPOKEN_TLDS = frozenset([
    "com", "net", "org", "edu", "gov", "mil", "int", "io", "ai", "co", "uk", "us", "ca", "de",
    "fr", "es", "it", "nl", "au", "in", "jp", "ie", "nz", "ch", "se", "no", "info", "biz", "me",
    "app", "dev", "tv", "xyz",
])  # fmt: skip
#: Regions whose numeric dates put the month first.
_MONTH_FIRST_REGIONS = frozenset({"US", "CA", "PH", "FM", "PW", "MH"})

_FLAGS = re.IGNORECASE

_UNIT_ALT = "zero|oh|o(?!')|one|two|three|four|five|six|seven|eight|nine"
_TEEN_ALT = "|".join(_TEENS)
_TENS_ALT = "|".join(_TENS)
_NUMWORD_ALT = f"{_TEEN_ALT}|{_TENS_ALT}|one|two|three|four|five|six|seven|eight|nine"

# Words that can only matter if present; their absence is the fast path.
_TRIGGER_RE = re.compile(
    r"\b(?:zero|one|two|three|four|five|six|seven|eight|nine|"
    rf"{_TEEN_ALT}|{_TENS_ALT}|hundred|double|triple|at|dot|born|birth\w*|dob|d\.o\.b)\b",
    _FLAGS,
)
_DROP_DIGITS = str.maketrans("", "", "0123456789")

_PLACEHOLDER_RE = re.compile(rf"\[(?:{'|'.join(KINDS)})(?::[0-9a-f]{{8}})?\]")

_EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_SPOKEN_WORD = r"[a-z0-9](?:[a-z0-9._%+-]*[a-z0-9])?"
_SPOKEN_EMAIL_RE = re.compile(
    rf"\b(?P<local>{_SPOKEN_WORD}(?:\s+(?:dot|period|underscore|dash|hyphen)\s+{_SPOKEN_WORD})*)"
    rf"\s+(?:at|@)\s+(?P<domain>{_SPOKEN_WORD}(?:\s+dot\s+{_SPOKEN_WORD})*)\b",
    _FLAGS,
)
_LOCAL_SEPARATORS = {"dot": ".", "period": ".", "underscore": "_", "dash": "-", "hyphen": "-"}

_IBAN_RE = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b", _FLAGS)
_IPV4_RE = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV6_RE = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|\d{1,3}(?:\.\d{1,3}){3})?(?![\w:])"
)

_SSN_RE = re.compile(r"(?<![\w-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\w]|-\w)")
_SSN_CONTEXT_RE = re.compile(r"\b(?:ssn|social(?:\s+security)?(?:\s+number)?)\b", _FLAGS)
_SSN_WRITTEN_CONTEXT_RE = re.compile(
    r"\b(?:ssn|social(?:\s+security)?(?:\s+number)?)\b\W{0,4}(?:is\s+)?(?P<n>\d{9})\b", _FLAGS
)

# Written digit runs: groups joined by single spaces or hyphens, not part of a word,
# a decimal, a path or a date with slashes.
_WRITTEN_RUN_RE = re.compile(r"(?<![\w./:-])\+?\d+(?:[ -]\d+)*(?![\w/]|-\w|[.:]\d)")
# Seven digits close together, the least a phone number or identifier needs: the
# gate in front of the expensive phone matcher (ids and URLs rarely pass it).
_PHONEISH_RE = re.compile(r"(?<![\w])\+?\(?\d(?:[ ().\-/]{0,2}\d){6}")
_ISO_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")

_SPOKEN_TOKEN = rf"(?:(?:double|triple)\s+)?(?:{_UNIT_ALT}|{_TEEN_ALT}|{_TENS_ALT}|hundred|\d+)\b"
_SPOKEN_RUN_RE = re.compile(
    rf"(?<![\w'])(?:plus\s+)?{_SPOKEN_TOKEN}(?:(?:\s*[,.-]\s*|\s+){_SPOKEN_TOKEN}){{2,}}",
    _FLAGS,
)
_RUN_TOKEN_RE = re.compile(r"[a-z]+|\d+|[,.!?]", _FLAGS)

_DAY_WORD = (
    r"(?:(?:twenty|thirty)[\s-]+(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth"
    r"|one|two|three|four|five|six|seven|eight|nine)"
    rf"|{'|'.join(_ORDINALS)}|{_TEEN_ALT}|twenty|thirty|one|two|three|four|five|six|seven"
    r"|eight|nine)"
)
_DAY = rf"(?:\d{{1,2}}(?:st|nd|rd|th)?|{_DAY_WORD})\b"
_SPOKEN_YEAR = rf"(?:{_NUMWORD_ALT})(?:[\s-]+(?:and\s+)?(?:{_NUMWORD_ALT}|oh|o(?!')|hundred|thousand)\b){{1,4}}"
_YEAR = rf"(?:\d{{4}}\b|'\d{{2}}\b|{_SPOKEN_YEAR})"
_MONTH = rf"(?:{_MONTH_NAMES})\b\.?"
_DOB_RE = re.compile(
    r"\b(?:born|date\s+of\s+birth|birth\s*date|birthday|d\.?o\.?b\b\.?)"
    r"(?:\s*[:,-]\s*|\s+)(?:(?:is|was|on|in|it's|its|of|the)\s+)*"
    r"(?P<date>"
    r"\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})\b"
    r"|\d{4}[/.-]\d{1,2}[/.-]\d{1,2}\b"
    rf"|{_MONTH}\s+(?:the\s+)?{_DAY}(?:\s*,?\s*(?:of\s+)?{_YEAR})?"
    rf"|{_DAY}\s+(?:of\s+)?{_MONTH}(?:\s*,?\s*{_YEAR})?"
    rf"|{_YEAR}"
    r")",
    _FLAGS,
)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _iban_valid(compact: str) -> bool:
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    try:
        number = "".join(str(int(ch, 36)) for ch in rearranged)
    except ValueError:
        return False
    return int(number) % 97 == 1


def _ssn_valid(area: str, group: str, serial: str) -> bool:
    # Numbers the SSA never issues are usually something else (a reference, a code).
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _cardinal(words: list[str]) -> int | None:
    """Value of a spoken cardinal below 100 ("twenty one", "nine", "thirteen")."""
    if not words:
        return None
    w = words[0]
    if w in _TENS:
        if len(words) == 1:
            return _TENS[w]
        if len(words) == 2 and words[1] in _UNITS and _UNITS[words[1]] > 0:
            return _TENS[w] + _UNITS[words[1]]
        return None
    if len(words) == 1:
        if w in _TEENS:
            return _TEENS[w]
        if w in _UNITS and w not in ("o", "oh"):
            return _UNITS[w]
    return None


def _spoken_year(text: str) -> int | None:
    """Parse "nineteen eighty five", "two thousand and one", "nineteen oh five"."""
    words = [w for w in re.split(r"[\s-]+", text.lower()) if w and w != "and"]
    if "thousand" in words:
        i = words.index("thousand")
        hi = _cardinal(words[:i])
        rest = words[i + 1 :]
        lo = _cardinal(rest) if rest else 0
        return None if hi is None or lo is None else hi * 1000 + lo
    split = 2 if words and words[0] in _TENS and len(words) > 1 and words[1] in _UNITS else 1
    hi = _cardinal(words[:split])
    rest = words[split:]
    if hi is None or not rest:
        return None
    if rest == ["hundred"]:
        return hi * 100
    if rest[0] in ("oh", "o") and len(rest) == 2 and rest[1] in _UNITS:
        return hi * 100 + _UNITS[rest[1]]
    lo = _cardinal(rest)
    return None if lo is None else hi * 100 + lo


def _day_value(text: str) -> int | None:
    t = text.lower().strip()
    m = re.match(r"(\d{1,2})", t)
    if m:
        return int(m.group(1))
    words = [w for w in re.split(r"[\s-]+", t) if w]
    if len(words) == 1 and words[0] in _ORDINALS:
        return _ORDINALS[words[0]]
    if len(words) == 2 and words[0] in _TENS:
        unit = _ORDINALS.get(words[1]) or _UNITS.get(words[1])
        return _TENS[words[0]] + unit if unit else None
    return _cardinal(words)


def _year_value(text: str) -> int | None:
    t = text.strip().lower()
    if t.isdigit() and len(t) == 4:
        return int(t)
    if t.startswith("'") and t[1:].isdigit():
        return 1900 + int(t[1:])
    return _spoken_year(t)


#: Texts up to this long have their redaction remembered (see ``memo_size``).
_SEEN_MAX_CHARS = 256


class Redactor:
    """Finds PII in text and replaces it; configured once, used for every span.

    Compiling patterns and reading the key once matters because a tracer
    calls this for every attribute of every span.
    """

    def __init__(
        self,
        key: bytes | str | None = None,
        *,
        region: str = "US",
        use_env: bool = True,
        memo_size: int = 4096,
    ) -> None:
        """``key`` (or ``VOICEOBS_REDACT_KEY`` when ``use_env``) turns placeholders into pseudonyms.

        ``region`` is the default phone-number region (ISO 3166 code) used for
        numbers written or said without a country code, and decides whether
        numeric dates read month-first. ``memo_size`` texts (of up to 256
        characters) have their outcome remembered; 0 turns that off.
        """
        if key is None and use_env:
            key = os.environ.get(KEY_ENV) or None
        if isinstance(key, str):
            key = key.encode("utf-8")
        self._key: bytes | None = key or None
        region = region.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            from voiceobs.errors import ConfigError

            raise ConfigError(
                f"unknown phone region {region!r}; use an ISO 3166 code such as US, GB or DE"
            )
        self.region = region
        # Span attributes repeat (the target URL, the probe name, prompt ids) on
        # every call, and a URL with a port runs every detector: remember the
        # outcome for short texts. None means "unchanged". Bounded by clearing.
        self._seen: dict[str, str | None] = {}
        self._memo_size = memo_size

    @property
    def keyed(self) -> bool:
        """True when findings become pseudonyms rather than bare placeholders."""
        return self._key is not None

    def pseudonym(self, kind: str, normalised: str) -> str:
        """The placeholder for one finding: ``[KIND]`` or ``[KIND:hmac8]`` with a key.

        The HMAC covers the kind and the normalised value, so equal values
        correlate and nothing about the value can be recovered without the key.
        """
        if self._key is None:
            return f"[{kind}]"
        digest = hmac.new(self._key, f"{kind}:{normalised}".encode(), hashlib.sha256)
        return f"[{kind}:{digest.hexdigest()[:8]}]"

    # -- public entry points ------------------------------------------------------------

    def redact_text(self, text: str) -> str:
        """``text`` with every finding replaced; unchanged text is returned as the same object."""
        if len(text) < 6:
            return text
        ndigits = len(text) - len(text.translate(_DROP_DIGITS))
        has_at = "@" in text
        colons = text.count(":")
        trigger = _TRIGGER_RE.search(text) is not None
        if not ndigits and not has_at and colons < 2 and not trigger:
            return text
        seen = self._seen.get(text, text)
        if seen is not text:
            return text if seen is None else seen
        findings = self._find(text, ndigits, trigger)
        result: str | None = None
        if findings:
            out: list[str] = []
            pos = 0
            for start, end, kind, norm in findings:
                out.append(text[pos:start])
                out.append(self.pseudonym(kind, norm))
                pos = end
            out.append(text[pos:])
            result = "".join(out)
        if self._memo_size and len(text) <= _SEEN_MAX_CHARS:
            if len(self._seen) >= self._memo_size:
                self._seen.clear()
            self._seen[text] = result
        return text if result is None else result

    def redact_value(self, value: Any) -> Any:
        """Redact one attribute value of any OpenTelemetry type.

        Strings are redacted; sequences and mappings element by element
        (keeping their type); numbers, booleans and bytes pass through,
        because measurements such as ``ttfb_ms`` must survive intact.
        """
        if isinstance(value, str):
            return self.redact_text(value)
        if isinstance(value, (bool, int, float, bytes)) or value is None:
            return value
        if isinstance(value, Mapping):
            return self.redact_mapping(value)
        if isinstance(value, (list, tuple)):
            items = [self.redact_value(v) for v in value]
            if all(a is b for a, b in zip(items, value, strict=True)):
                return value
            return tuple(items) if isinstance(value, tuple) else items
        if isinstance(value, Sequence):
            return [self.redact_value(v) for v in value]
        return value

    def redact_mapping(self, mapping: Mapping[str, Any]) -> dict[str, Any]:
        """A new dict with every value redacted (keys are names chosen in code, not PII)."""
        return {k: self.redact_value(v) for k, v in mapping.items()}

    # -- detection ------------------------------------------------------------------------

    def find(self, text: str) -> list[tuple[int, int, str, str]]:
        """Every finding as ``(start, end, kind, normalised)``, sorted and non-overlapping.

        Detectors run in priority order and a later one never claims text an
        earlier one took: an IP is not also a digit run, a date of birth is
        not also a spoken year.
        """
        ndigits = len(text) - len(text.translate(_DROP_DIGITS))
        return self._find(text, ndigits, _TRIGGER_RE.search(text) is not None)

    def _find(self, text: str, ndigits: int, has_trigger: bool) -> list[tuple[int, int, str, str]]:
        taken: list[tuple[int, int, str, str]] = []

        def free(start: int, end: int) -> bool:
            return all(not (start < e and s < end) for s, e, _, _ in taken)

        def claim(start: int, end: int, kind: str, norm: str) -> bool:
            if not free(start, end):
                return False
            taken.append((start, end, kind, norm))
            return True

        if "[" in text:
            for m in _PLACEHOLDER_RE.finditer(text):
                claim(m.start(), m.end(), "", "")
        if "@" in text:
            for m in _EMAIL_RE.finditer(text):
                claim(m.start(), m.end(), "EMAIL", m.group(0).lower())
        lowered = text.lower()
        if (has_trigger and " at " in lowered) or " @ " in text:
            self._spoken_emails(text, claim)
        if ndigits >= 8:
            self._ibans(text, claim)
        if ndigits >= 4 and "." in text:
            for m in _IPV4_RE.finditer(text):
                self._ip(m, claim)
        if text.count(":") >= 2:
            for m in _IPV6_RE.finditer(text):
                self._ip(m, claim)
        if "bor" in lowered or "birth" in lowered or "dob" in lowered or "d.o.b" in lowered:
            for m in _DOB_RE.finditer(text):
                claim(m.start("date"), m.end("date"), "DOB", self._dob_norm(m.group("date")))
        if ndigits >= 9:
            for m in _SSN_RE.finditer(text):
                if _ssn_valid(m.group(1), m.group(3), m.group(4)):
                    claim(m.start(), m.end(), "SSN", m.group(1) + m.group(3) + m.group(4))
            for m in _SSN_WRITTEN_CONTEXT_RE.finditer(text):
                claim(m.start("n"), m.end("n"), "SSN", m.group("n"))
        if ndigits >= 13:
            self._written_cards(text, claim)
        phoneish = False
        if ndigits >= MIN_DIGIT_RUN:
            # Dotted quads pass the digit gate but are handled above; hide them from it.
            gate = _IPV4_RE.sub(" ", text) if "." in text else text
            phoneish = _PHONEISH_RE.search(gate) is not None
        if phoneish:
            for pm in phonenumbers.PhoneNumberMatcher(
                text, self.region, leniency=phonenumbers.Leniency.VALID
            ):
                e164 = phonenumbers.format_number(pm.number, phonenumbers.PhoneNumberFormat.E164)
                claim(pm.start, pm.end, "PHONE", e164)
        if has_trigger:
            self._spoken_runs(text, claim, free)
        if phoneish:
            for m in _WRITTEN_RUN_RE.finditer(text):
                raw = m.group(0)
                digits = re.sub(r"\D", "", raw)
                if (
                    len(digits) < MIN_DIGIT_RUN
                    or _ISO_DATE_RE.fullmatch(raw)
                    or not free(m.start(), m.end())
                ):
                    continue
                kind, norm = self._classify_digits(digits, raw.startswith("+"), text[: m.start()])
                claim(m.start(), m.end(), kind, norm)
        return sorted(t for t in taken if t[2])

    def _spoken_emails(self, text: str, claim: Any) -> None:
        for m in _SPOKEN_EMAIL_RE.finditer(text):
            domain_words = re.split(r"\s+dot\s+", m.group("domain").lower())
            domain = ".".join(domain_words)
            labels = domain.split(".")
            if len(labels) < 2 or labels[-1] not in _SPOKEN_TLDS or not all(labels):
                continue
            local_tokens = re.split(r"\s+", m.group("local").lower())
            local = "".join(_LOCAL_SEPARATORS.get(t, t) for t in local_tokens)
            claim(m.start(), m.end(), "EMAIL", f"{local}@{domain}")

    @staticmethod
    def _ibans(text: str, claim: Any) -> None:
        for m in _IBAN_RE.finditer(text):
            raw = m.group(0)
            # The pattern may run into the next word; shrink until the checksum holds.
            for end in range(len(raw), 14, -1):
                if raw[end - 1] == " ":
                    continue
                compact = raw[:end].replace(" ", "").upper()
                if _iban_valid(compact):
                    claim(m.start(), m.start() + end, "IBAN", compact)
                    break

    @staticmethod
    def _ip(m: re.Match[str], claim: Any) -> None:
        try:
            ip = ipaddress.ip_address(m.group(0))
        except ValueError:
            return
        if ip.is_loopback or ip.is_unspecified:
            return
        claim(m.start(), m.end(), "IP", ip.compressed)

    def _dob_norm(self, raw: str) -> str:
        """ISO form of a spoken or written date, so "03/04/1985" and "March 4th 1985" agree."""
        text = raw.strip().lower().rstrip(".")
        num = re.fullmatch(r"(\d{1,4})[/.-](\d{1,2})[/.-](\d{1,4})", text)
        year: int | None = None
        month: int | None = None
        day: int | None = None
        if num:
            a, b, c = (int(g) for g in num.groups())
            if len(num.group(1)) == 4:
                year, month, day = a, b, c
            else:
                year = c if len(num.group(3)) == 4 else 1900 + c
                month, day = (a, b) if self.region in _MONTH_FIRST_REGIONS else (b, a)
        else:
            mm = re.search(rf"\b({_MONTH_NAMES})\b", text)
            if mm:
                month = _MONTHS[mm.group(1)[:3]]
                before = text[: mm.start()].strip()
                after = text[mm.end() :].strip(" .,")
                before = re.sub(r"^the\s+|\s+of$", "", before).strip()
                after = re.sub(r"^the\s+", "", after)
                if before:
                    day = _day_value(before)
                    year = _year_value(after) if after else None
                else:
                    dm = re.match(_DAY, after, _FLAGS)
                    if dm:
                        day = _day_value(dm.group(0))
                        rest = after[dm.end() :].strip(" ,")
                        rest = re.sub(r"^of\s+", "", rest)
                        year = _year_value(rest) if rest else None
            else:
                year = _year_value(text)
        if month is None and day is None and year is not None:
            return f"{year:04d}"
        if month is not None and day is not None and 1 <= month <= 12 and 1 <= day <= 31:
            return f"{year:04d}-{month:02d}-{day:02d}" if year else f"--{month:02d}-{day:02d}"
        return " ".join(text.split())

    def _written_cards(self, text: str, claim: Any) -> None:
        for m in _WRITTEN_RUN_RE.finditer(text):
            groups = re.split(r"[ -]", m.group(0).lstrip("+"))
            offsets = []
            pos = m.start() + (1 if m.group(0).startswith("+") else 0)
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
                        and _luhn(digits)
                        and (best is None or len(digits) > len(best[2]))
                    ):
                        best = (offsets[i], offsets[j] + len(groups[j]), digits)
            if best:
                claim(best[0], best[1], "CARD", best[2])

    def _spoken_runs(self, text: str, claim: Any, free: Any) -> None:
        for m in _SPOKEN_RUN_RE.finditer(text):
            tokens = _RUN_TOKEN_RE.findall(m.group(0))
            start, end = m.start(), m.end()
            # A leading "oh," is an interjection, not a zero.
            if len(tokens) > 1 and tokens[0].lower() in ("oh", "o") and tokens[1] in ",.!?":
                start = text.index(tokens[1], start) + 1
                while start < end and text[start].isspace():
                    start += 1
                tokens = tokens[2:]
            digits, spoken, plus = self._spoken_digits(tokens)
            if len(digits) < MIN_DIGIT_RUN or not spoken or not free(start, end):
                continue
            kind, norm = self._classify_digits(digits, plus, text[:start])
            claim(start, end, kind, norm)

    @staticmethod
    def _spoken_digits(tokens: list[str]) -> tuple[str, bool, bool]:
        """Digits said in ``tokens``: (digits, whether any word was spoken, leading plus)."""
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
                if w in _UNITS:
                    piece = str(_UNITS[w])
                elif w in _TEENS:
                    piece = str(_TEENS[w])
                elif w in _TENS:
                    nxt = words[i] if i < len(words) else ""
                    if nxt in _UNITS and _UNITS[nxt] > 0 and nxt not in ("o", "oh"):
                        piece = str(_TENS[w] + _UNITS[nxt])
                        i += 1
                    else:
                        piece = str(_TENS[w])
                elif w == "hundred":
                    piece = "00" if out else "100"
                else:
                    continue
            out.append(piece * repeat)
            repeat = 1
        return "".join(out), spoken, plus

    def _classify_digits(self, digits: str, plus: bool, before: str) -> tuple[str, str]:
        """Kind and normalised value of a digit run found outside the written-form detectors.

        Normalising a phone number to E.164 here is what makes a spoken number
        and its written form share one pseudonym.
        """
        n = len(digits)
        if 13 <= n <= 19 and _luhn(digits):
            return "CARD", digits
        if n == 9 and _SSN_CONTEXT_RE.search(before[-40:]):
            return "SSN", digits
        try:
            number = phonenumbers.parse(("+" if plus else "") + digits, self.region)
        except phonenumbers.NumberParseException:
            number = None
        if number is not None and phonenumbers.is_valid_number(number):
            return "PHONE", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return "DIGITS", digits


@functools.lru_cache(maxsize=8)
def _cached_redactor(key: bytes | None) -> Redactor:
    return Redactor(key, use_env=False)


def default_redactor(key: bytes | str | None = None) -> Redactor:
    """A shared redactor for ``key`` (or ``VOICEOBS_REDACT_KEY``), built once per key."""
    if key is None:
        key = os.environ.get(KEY_ENV) or None
    if isinstance(key, str):
        key = key.encode("utf-8")
    return _cached_redactor(key)


def redact_text(text: str, key: bytes | None = None) -> str:
    """Redact PII in ``text`` with the shared redactor (key from argument or environment)."""
    return default_redactor(key).redact_text(text)


__all__ = ["KEY_ENV", "KINDS", "Redactor", "default_redactor", "redact_text"]
