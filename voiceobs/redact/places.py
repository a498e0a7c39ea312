"""Street addresses and postcodes.

An address is a house number (written, or said: "twenty two", "one two
three"), one to four street-name words and a street suffix ("Street",
"Ave", "Lane", ...), with an optional direction and flat or unit; also
"PO Box 12", German "Hauptstraße 12" and Romance "12 rue de Rivoli" /
"Via Roma 12". Postcodes are taken near the words that introduce them
("zip code", "postcode"), after a US state, right after an address, or
anywhere when they are in the distinctive UK or Canadian format written in
capitals. A five-digit number on its own is not a ZIP code.
"""

from __future__ import annotations

import re

from voiceobs.redact.numbers import NUMBER_WORDS, NUMWORD_ALT, SPOKEN_TOKEN, run_digits
from voiceobs.redact.scan import Scan
from voiceobs.redact.words import STOP

_F = re.IGNORECASE
SUFFIXES = (
    "street|st|avenue|ave|av|road|rd|lane|ln|drive|dr|boulevard|blvd|court|ct|place|pl|way|"
    "terrace|ter|crescent|cres|close|square|sq|parkway|pkwy|highway|hwy|circle|cir|trail|trl|"
    "row|mews|grove|gardens|gdns|hill|park|walk|alley|plaza|parade|green|rise|vale|view|"
    "wharf|quay|broadway|expressway|freeway|turnpike|pike|loop|run|path|point|crossing|"
    "heights|estate|ridge|bend|cove|creek|meadow|meadows|commons|junction"
)
_SUFFIX_WORDS = frozenset(SUFFIXES.split("|")) | {"box", "straße", "strasse", "rue", "via", "calle"}
_STOP_ALT = "|".join(sorted((re.escape(w) for w in STOP), key=len, reverse=True))
_NUM = r"\d{1,6}[A-Za-z]?(?:[-/]\d{1,4}[A-Za-z]?)?"
_SPOKEN_NUM = rf"(?:(?:{NUMWORD_ALT}|oh|zero|hundred|and)[\s-]+){{0,5}}(?:{NUMWORD_ALT}|hundred)"
_NAME_WORD = rf"(?!(?:{_STOP_ALT})\b)(?:[A-Za-z][A-Za-z'’.\-]*|\d{{1,3}}(?:st|nd|rd|th))"
_DIRECTION = r"(?:\s+(?:n|s|e|w|ne|nw|se|sw|north|south|east|west)\b\.?)?"
_UNIT = r"(?:,?\s+(?:apt|apartment|unit|suite|ste|flat|floor|fl|room|rm|#)\.?\s*#?\s*[A-Za-z0-9-]{1,6}\b)?"
_UNIT_BEFORE = r"(?:(?:flat|apartment|apt|unit|suite)\s+[A-Za-z0-9-]{1,6},?\s+)?"
_ADDRESS_RE = re.compile(
    rf"(?<![\w$€£])(?<!\d\.){_UNIT_BEFORE}(?:{_NUM}|{_SPOKEN_NUM}),?\s+(?:{_NAME_WORD}\s+){{1,4}}?"
    rf"(?:{SUFFIXES})\b\.?{_DIRECTION}{_UNIT}",
    _F,
)
# "one way street", "two way traffic": a number and "way" are not an address.
_ADDRESS_ANCHORS = NUMBER_WORDS | {"flat", "apartment", "apt", "unit", "suite", "and"}
_DIGIT_START = re.compile(r"(?<![\w$€£.])\d")
_NOT_ADDRESS = re.compile(r"(?:one|two|three|four|1|2|3|4)[\s-]+way\b", _F)
_PO_BOX_RE = re.compile(r"\bp\.?\s?o\.?\s+box\s+\d{1,6}\b", _F)
_GERMAN_RE = re.compile(
    r"\b[A-ZÄÖÜ][a-zäöüß]+(?:straße|strasse|str\.|weg|gasse|platz|allee|ring|damm|ufer)\s+\d{1,4}\s?[a-z]?\b"
)
_ROMANCE_STREET = (
    r"(?i:rue|avenue|boulevard|chemin|allée|impasse|via|viale|piazza|corso|calle|avenida|paseo|"
    r"carrer|rua|praça|plaza)\s+(?:(?i:de\s+la|de|du|des|del|della|di|da|do|dos|las|los|la|le|les)\s+)?"
    r"[A-ZÀ-Ý][\wÀ-ÿ'’-]+(?:\s+[A-ZÀ-Ý][\wÀ-ÿ'’-]+)?"
)
_ROMANCE_RE = re.compile(
    rf"\b\d{{1,4}}(?:\s?bis)?,?\s+{_ROMANCE_STREET}|\b{_ROMANCE_STREET},?\s+\d{{1,4}}[a-z]?\b"
)

_UK_POSTCODE = r"(?:[A-Z]{1,2}\d[A-Z\d]?|GIR)\s?\d[A-Z]{2}"
_CA_POSTCODE = r"[ABCEGHJ-NPRSTVXY]\d[A-Z][ -]?\d[A-Z]\d"
_US_ZIP = r"\d{5}(?:-\d{4})?"
_UK_CA_RE = re.compile(rf"\b(?:{_UK_POSTCODE}|{_CA_POSTCODE})\b")
_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|"
    "NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|DC|PR"
)
_STATE_NAMES = (
    "alabama|alaska|arizona|arkansas|california|colorado|connecticut|delaware|florida|georgia|"
    "hawaii|idaho|illinois|indiana|iowa|kansas|kentucky|louisiana|maine|maryland|massachusetts|"
    "michigan|minnesota|mississippi|missouri|montana|nebraska|nevada|new hampshire|new jersey|"
    "new mexico|new york|north carolina|north dakota|ohio|oklahoma|oregon|pennsylvania|"
    "rhode island|south carolina|south dakota|tennessee|texas|utah|vermont|virginia|washington|"
    "west virginia|wisconsin|wyoming"
)
_ZIP_RE = re.compile(rf"(?<![\w-]){_US_ZIP}(?![\w-])")
# Searched backwards from a five-digit number: "IL 62704", "California, 94103".
_STATE_BEFORE_RE = re.compile(rf"(?:\b(?:{_STATES})\.?|(?i:\b(?:{_STATE_NAMES})))\s*,?\s+$")
_UPPER_DIGIT = re.compile(r"[A-Z]\d")
_CUE_RE = re.compile(
    r"\b(?:zip(?:\s*code)?|post(?:al)?\s*code|postcode|post\s+code|plz|code\s+postal|eircode)"
    r"(?:\s*(?:['’]s|is|was|:|it's|would\s+be|=))?\s*",
    _F,
)
_CUE_VALUE_RE = re.compile(
    rf"{_US_ZIP}\b|{_UK_POSTCODE}\b|{_CA_POSTCODE}\b|\d{{4}}\s?[A-Z]{{2}}\b|[A-Z]\d{{2}}\s?[A-Z0-9]{{4}}\b"
    r"|\d{4,6}\b",
    _F,
)
_AFTER_ADDRESS_RE = re.compile(
    rf",?\s*(?:[A-Z][\w'’-]+(?:\s+[A-Z][\w'’-]+){{0,2}},?\s+)?(?:(?:{_STATES})\s+)?"
    rf"(?P<code>{_US_ZIP}|{_UK_POSTCODE}|{_CA_POSTCODE}|\d{{4}}\s?[A-Z]{{2}})\b",
    _F,
)
_SPOKEN_CODE_RE = re.compile(rf"{SPOKEN_TOKEN}(?:(?:\s*[,.-]\s*|\s+){SPOKEN_TOKEN}){{3,8}}", _F)
_POSTCODE_ANCHORS = frozenset({"zip", "post", "postal", "postcode", "plz", "code", "eircode"})
CUE_WORDS = frozenset({"zip", "postcode", "postal", "post", "plz", "eircode", "postcodes"})


def detect_addresses(scan: Scan) -> None:
    """Number + street name + suffix, PO boxes, German and Romance street forms."""
    text = scan.text
    words = scan.words
    if not words.isdisjoint(_SUFFIX_WORDS) and (scan.digits or not words.isdisjoint(NUMBER_WORDS)):
        anchors = scan.positions(words & _ADDRESS_ANCHORS)
        if scan.digits:
            anchors = sorted(anchors + [m.start() for m in _DIGIT_START.finditer(text)])
        last = -1
        for pos in anchors:
            if pos < last:
                continue
            m = _ADDRESS_RE.match(text, pos)
            if m is None or _NOT_ADDRESS.match(text, m.start()):
                continue
            last = m.end()
            norm = " ".join(m.group(0).lower().split())
            scan.claim(m.start(), m.end(), "ADDRESS", norm)
    if scan.digits:
        if "box" in words:
            for m in _PO_BOX_RE.finditer(text):
                scan.claim(m.start(), m.end(), "ADDRESS", " ".join(m.group(0).lower().split()))
        if "str" in scan.lower or "weg" in scan.lower or "platz" in scan.lower or "ß" in text:
            for m in _GERMAN_RE.finditer(text):
                scan.claim(m.start(), m.end(), "ADDRESS", " ".join(m.group(0).lower().split()))
        if words & {
            "rue",
            "via",
            "calle",
            "avenida",
            "piazza",
            "viale",
            "rua",
            "chemin",
            "corso",
            "paseo",
            "carrer",
            "plaza",
            "praça",
        }:
            for m in _ROMANCE_RE.finditer(text):
                scan.claim(m.start(), m.end(), "ADDRESS", " ".join(m.group(0).lower().split()))


def detect_postcodes(scan: Scan) -> None:
    """Postcodes and ZIP codes near the words that introduce them, or in UK/Canadian capitals."""
    text = scan.text
    if scan.digits:
        if _UPPER_DIGIT.search(text):
            for m in _UK_CA_RE.finditer(text):
                scan.claim(m.start(), m.end(), "POSTCODE", m.group(0).replace(" ", ""))
        if scan.digits >= 5:
            for m in _ZIP_RE.finditer(text):
                if _STATE_BEFORE_RE.search(text, max(0, m.start() - 30), m.start()):
                    scan.claim(m.start(), m.end(), "POSTCODE", m.group(0))
        for _, e, kind, _, _ in list(scan.taken):
            if kind == "ADDRESS":
                after = _AFTER_ADDRESS_RE.match(text, e)
                if after:
                    code = after.group("code")
                    scan.claim(after.start("code"), after.end("code"), "POSTCODE", code.upper())
    if scan.words.isdisjoint(CUE_WORDS):
        return
    for anchor in scan.positions(scan.words & _POSTCODE_ANCHORS):
        cue = _CUE_RE.match(text, anchor)
        if cue is None:
            continue
        pos = cue.end()
        value = _CUE_VALUE_RE.match(text, pos)
        spoken = _SPOKEN_CODE_RE.match(text, pos)
        spelled = next((c for s, e, c in scan.spelled() if s == pos), None)
        best_end, norm = -1, ""
        if value:
            best_end, norm = value.end(), value.group(0).replace(" ", "").upper()
        if spoken and spoken.end() > best_end:
            digits, _, _ = run_digits(spoken.group(0))
            if 4 <= len(digits) <= 9:
                best_end, norm = spoken.end(), digits
        if spelled and spelled[-1][2] > best_end and len(spelled) >= 4:
            best_end, norm = spelled[-1][2], "".join(c for c, _, _ in spelled)
        if best_end > pos:
            scan.claim(pos, best_end, "POSTCODE", norm)


__all__ = ["CUE_WORDS", "SUFFIXES", "detect_addresses", "detect_postcodes"]
