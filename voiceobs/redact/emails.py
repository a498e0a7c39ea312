"""Email addresses, written ("john.smith@gmail.com") and spoken ("john dot smith at gmail dot com").

Callers say every separator ("dot", "period", "underscore", "dash",
"hyphen", "at sign"), put digits after names ("smith seven seven"), and
give sub-domains ("mail dot example dot co dot uk"). "I work at acme dot
com" is not an address, so a spoken local part that is a pronoun or a verb
is not taken.
"""

from __future__ import annotations

import re

from voiceobs.redact.numbers import UNITS
from voiceobs.redact.scan import Scan
from voiceobs.redact.words import word_set

EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")

SPOKEN_TLDS = word_set("""
com net org edu gov mil int io ai co uk us ca de fr es it nl au in jp ie nz ch se no dk fi pl
pt br mx ru cn kr be at cz gr hu ro za sg hk tw il tr ar cl info biz me app dev tv xyz online
site tech store cloud email mail pro name mobi eu asia page blog shop live
""")

_DOTS = frozenset({"dot", "period", "point", "[dot]", "(dot)"})
_JOINS = {"underscore": "_", "dash": "-", "hyphen": "-", "minus": "-", "plus": "+"}
_ATS = frozenset({"at", "@", "[at]", "(at)"})
# A spoken "X at Y dot com" whose X is one of these is a sentence, not an address.
_LOCAL_STOP = word_set("""
me us it them him her you i we they this that look looking work works worked working go going
went visit visiting find found check online available here there shop buy sign log stay staying
live living lives based out up in is are was were be been email emails mail write contact reach
site page home office us
""")
_CUES = frozenset({"email", "e-mail", "mail", "address", "emails"})
#: Words a spoken address needs ("at"); the fast path skips texts without any cue word.
CUE_WORDS = frozenset({"at"})
_TOKEN_RE = re.compile(r"[^\s,;!?()\"<>]+")
_LOCAL_OK = re.compile(r"[a-z0-9][a-z0-9._%+'-]*", re.IGNORECASE)
_LABEL_OK = re.compile(r"[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*", re.IGNORECASE)


def detect_written_emails(scan: Scan) -> None:
    """Addresses written with an ``@``."""
    if "@" not in scan.text:
        return
    for m in EMAIL_RE.finditer(scan.text):
        scan.claim(m.start(), m.end(), "EMAIL", m.group(0).lower())


def detect_spoken_emails(scan: Scan) -> None:
    """Addresses said aloud: "at" (or "at sign") between a local part and a dotted domain."""
    words = scan.words
    if not ("at" in words or " @ " in scan.text or "[at]" in scan.lower or "(at)" in scan.lower):
        return
    if not (words & _DOTS or "." in scan.text):
        return
    text = scan.text
    toks = [(m.start(), m.end(), m.group(0)) for m in _TOKEN_RE.finditer(text)]
    for i, (_, _, tok) in enumerate(toks):
        if tok.lower() not in _ATS or i == 0:
            continue
        found = _parse_at(toks, i)
        if found is not None:
            start, end, norm = found
            scan.claim(start, end, "EMAIL", norm)


def _parse_at(toks: list[tuple[int, int, str]], i: int) -> tuple[int, int, str] | None:
    j = i + 1
    if j < len(toks) and toks[j][2].lower() in ("sign", "symbol"):
        j += 1
    domain = _parse_domain(toks, j)
    if domain is None:
        return None
    end, dom = domain
    local = _parse_local(toks, i - 1)
    if local is None:
        return None
    start, loc = local
    return start, end, f"{loc}@{dom}"


def _parse_domain(toks: list[tuple[int, int, str]], j: int) -> tuple[int, str] | None:
    """Labels joined by spoken or written dots; the longest run ending in a known TLD."""
    labels: list[str] = []
    best: tuple[int, str] | None = None
    k = j
    while k < len(toks):
        raw = toks[k][2]
        stop = raw.endswith(".")  # a full stop ends the sentence and the address
        word = raw[:-1].lower() if stop else raw.lower()
        if not _LABEL_OK.fullmatch(word):
            break
        pieces = word.split(".")
        if labels and labels[-1].endswith("-"):
            labels[-1] += pieces[0]
            labels.extend(pieces[1:])
        else:
            labels.extend(pieces)
        if len(labels) >= 2 and labels[-1] in SPOKEN_TLDS:
            best = (toks[k][0] + len(word), ".".join(labels))
        if stop or k + 2 >= len(toks):
            break
        nxt = toks[k + 1][2].lower()
        if nxt in _DOTS:
            k += 2
        elif nxt in ("dash", "hyphen"):
            labels[-1] += "-"
            k += 2
        else:
            break
    return best


def _is_digitish(word: str) -> bool:
    w = word.lower()
    return w.isdigit() or (w in UNITS and w != "o") or len(w) == 1


def _parse_local(toks: list[tuple[int, int, str]], k: int) -> tuple[int, str] | None:
    if k < 0:
        return None
    first = toks[k][2]
    if not _LOCAL_OK.fullmatch(first):
        return None
    parts = [_word_value(first)]
    start = toks[k][0]
    separated = "." in first or "_" in first or "-" in first
    only_digits = _is_digitish(first)
    k -= 1
    while k >= 0:
        w = toks[k][2].lower()
        if (w in _DOTS or w in _JOINS) and k >= 1 and _LOCAL_OK.fullmatch(toks[k - 1][2]):
            sep = "." if w in _DOTS else _JOINS[w]
            parts[0:0] = [_word_value(toks[k - 1][2]), sep]
            start = toks[k - 1][0]
            separated = True
            only_digits = _is_digitish(toks[k - 1][2])
            k -= 2
            continue
        if only_digits and _LOCAL_OK.fullmatch(toks[k][2]) and w not in _CUES and w != "is":
            # "smith seven seven": digits said after a name, no separator.
            parts.insert(0, _word_value(toks[k][2]))
            start = toks[k][0]
            only_digits = _is_digitish(toks[k][2])
            k -= 1
            continue
        break
    # "my email is john smith at ...": everything between the cue and "at" is the local part.
    extra = _cue_extension(toks, k)
    if extra is not None:
        ext_start, ext_parts = extra
        parts[0:0] = ext_parts
        start = ext_start
        separated = True
    local = "".join(parts)
    if not separated and local.lower() in _LOCAL_STOP:
        return None
    return start, local.lower()


def _cue_extension(toks: list[tuple[int, int, str]], k: int) -> tuple[int, list[str]] | None:
    """Words between an email cue ("my email is") and the local part already read."""
    between: list[tuple[int, int, str]] = []
    j = k
    while j >= 0 and len(between) <= 3:
        w = toks[j][2].lower().rstrip(":")
        if w in ("is", "'s") and j >= 1 and toks[j - 1][2].lower().rstrip(":") in _CUES:
            break
        if w in _CUES or w.endswith(("email's", "address's")):
            break
        if not _LOCAL_OK.fullmatch(toks[j][2]) or w in _LOCAL_STOP or w in ("and", "or"):
            return None
        between.insert(0, toks[j])
        j -= 1
    else:
        return None
    if j < 0 or not between:
        return None
    return between[0][0], [_word_value(t[2]) for t in between]


def _word_value(word: str) -> str:
    w = word.lower()
    if w in UNITS and w != "o":
        return str(UNITS[w])
    return w


__all__ = ["CUE_WORDS", "EMAIL_RE", "SPOKEN_TLDS", "detect_spoken_emails", "detect_written_emails"]
