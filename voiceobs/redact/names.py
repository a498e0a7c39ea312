"""Personal names after the cues callers and bots use.

There is no list of names here (there are too many, and ASR writes them in
lower case); a name is what follows a cue: "my name is ...", "this is ...
calling", "you're speaking with ...", "Mr./Ms./Dr. ...", "... speaking",
"spelled J O H N". After a strong cue ("my name is") any word that is not
a function word is taken; after a medium one ("speaking with", "Mr.") any
word that is not a common one ("speaking with a manager" survives); after a
weak one ("this is", "I'm", "hi") a capitalised uncommon word standing
alone, or an uncommon word that "calling" or "speaking" follows ("this is
dave calling"), so "this is great" survives. Once a name is found, its
other mentions in the same text go too. Not found: a name with no cue, and
a lower-case name after a weak cue with nothing after it ("hey it's mike").
"""

from __future__ import annotations

import re

from voiceobs.redact.scan import Scan
from voiceobs.redact.words import COMMON, STOP, word_set

_F = re.IGNORECASE
# A whole word: "AB" of "AB123456C" or "api" of "api_key" is not a name.
_WORD = r"[A-Za-z][A-Za-z'’\-]*(?![\w])"
_WORD_RE = re.compile(_WORD)
_PARTICLES = frozenset(
    {
        "de",
        "da",
        "di",
        "del",
        "della",
        "van",
        "von",
        "der",
        "den",
        "la",
        "le",
        "du",
        "bin",
        "al",
        "el",
        "st",
        "o'",
        "mac",
        "ter",
    }
)
_TITLES = r"(?:mr|mrs|ms|mx|dr|prof|mister|missus)"
_TRAILERS = frozenset({"calling", "speaking", "here", "from", "with", "ringing", "phoning"})

# Strong cues: what follows is a name unless it is a function word ("my name is not ...").
_STRONG = (
    r"\bmy\s+(?:full\s+|first\s+|last\s+|legal\s+|middle\s+|maiden\s+|given\s+|family\s+|sur)?name\s+(?:is|was)\b"
    r"|\b(?:my\s+)?name['’]s\b"
    r"|\b(?:first|last|full|middle|maiden|family|given|sur)\s*name\s*(?:is\b|:|[-–])"
    r"|\b(?:the\s+)?name\s+(?:is|was)\b|\bname\s*:"
    r"|\bname\s+on\s+the\s+(?:account|card|booking|reservation|order|policy)\s+is\b"
    r"|\b(?:account|card)\s*holder(?:['’]s\s+name)?\s+is\b"
)
# Medium cues: what follows is a name unless it is a common word ("speaking with a manager").
_MEDIUM = (
    r"\b(?:you(?:['’]re|\s+are)\s+)?(?:speaking|talking|chatting)\s+(?:with|to)"
    r"(?:\s+(?:agent|representative|advisor|adviser|operator|doctor|nurse))?\b"
    r"|\bspeak\s+(?:to|with)\b"
    r"|\b(?:first|last|full|middle|maiden|family|given|sur)\s*name\b,?"
    rf"|(?<![\d])(?<!\d\s)\b{_TITLES}\.?(?=\s)"
    r"|\bask\s+for\b|\baddressed\s+to\b|\bregistered\s+to\b|\bunder\s+the\s+name(?:\s+of)?\b"
)
# Weak cues: a capitalised uncommon word standing alone, or any uncommon word that
# "calling", "speaking", "here", "from" follows ("this is dave calling").
_WEAK = (
    r"\b(?:this\s+is|it['’]s|i['’]m|i\s+am|hi|hello|hey|dear|thanks|regards|sincerely|cheers"
    r")\b,?"
)
# Titles that are also ordinary words ("I miss home"): a capitalised name must follow.
_TITLE = r"\b(?:miss|sir|madam|dame|lady|lord)\b"
_CUE_RE = re.compile(
    rf"(?P<strong>{_STRONG})|(?P<medium>{_MEDIUM})|(?P<weak>{_WEAK})|(?P<title>{_TITLE})", _F
)
# After a strong cue these still say the name is not being given.
_NOT_AFTER_STRONG = STOP | word_set(
    "required correct incorrect wrong spelled misspelled spelt listed missing unusual common "
    "long short hard different same written printed shown there mentioned"
)
_NOT_NAME_ENDING = re.compile(r"(?:ing|ed|ly|ous|ful|ness)$", re.IGNORECASE)
_STANDALONE_NEXT = frozenset({"and", "i", "i'm", "how", "what", "can", "please", "thanks", "thank"})
# "Sarah speaking", "Hello, Dave here": searched backwards from "speaking" / "here".
_SPEAKING_BEFORE_RE = re.compile(
    r"(?:^|[.!?,]\s*|\b(?:hello|hi|hey|morning|afternoon|evening)\s*,?\s*)"
    r"(?P<name>[A-Z][a-z'’\-]+(?:\s+[A-Z][a-z'’\-]+)?)\s+$"
)
_SPELL_CUE_RE = re.compile(
    r"\b(?:spelled|spelt|spelling|spells|that['’]s|that\s+is|it['’]s|as\s+in|letters?)\b\s*(?:it\s+)?(?:is\s+|as\s+)?:?\s*",
    _F,
)
CUE_WORDS = word_set(
    "name name's names surname speak speaking talking chatting mr mrs ms mx dr prof mister missus "
    "miss sir madam dame lady lord this it's i'm am hi hello hey dear thanks regards sincerely "
    "cheers ask addressed registered holder cardholder here under"
)
SPELL_WORDS = word_set("spelled spelt spelling spells that's it's as letter letters")
# Words a cue can start with: the cue pattern is tried only where one of these stands.
_ANCHORS = word_set(
    "my name name's the first last full middle maiden family given surname account card "
    "accountholder cardholder you you're speaking talking chatting speak mr mrs ms mx dr prof "
    "mister missus ask addressed registered under this it's i'm i hi hello hey dear thanks "
    "regards sincerely cheers miss sir madam dame lady lord"
)


def detect_names(scan: Scan) -> None:
    """Names after cues, their other mentions, and names spelled out."""
    words = scan.words
    text = scan.text
    found: list[str] = []
    if not words.isdisjoint(CUE_WORDS):
        for pos in scan.positions(words & _ANCHORS):
            m = _CUE_RE.match(text, pos)
            if m is None or not scan.free(m.start(), m.end()):
                continue  # "Dr" of "Elm Dr", already an address
            level = m.lastgroup or "weak"
            span = _name_after(text, m.end(), level, m.group(0))
            if span is None:
                continue
            start, end = span
            for s, e, _, _, _ in scan.taken:
                if start < e and s < end:
                    end = min(end, s)  # keep the words before something already claimed
            while end > start and not text[end - 1].isalpha():
                end -= 1
            name = text[start:end]
            if end > start and scan.claim(start, end, "NAME", _norm(name)):
                found.append(name)
        if "speaking" in words or "here" in words:
            for pos in scan.positions(words & {"speaking", "here"}):
                m = _SPEAKING_BEFORE_RE.search(text, max(0, pos - 60), pos)
                if m is None:
                    continue
                name = m.group("name")
                plain = all(w.lower() not in COMMON for w in name.split())
                if plain and scan.claim(m.start("name"), m.end("name"), "NAME", _norm(name)):
                    found.append(name)
    _spelled_names(scan)
    for name in found:
        for w in _WORD_RE.findall(name):
            if len(w) >= 3 and w.lower() not in COMMON:
                for m in re.finditer(rf"(?<![\w'’]){re.escape(w)}(?![\w'’])", text, _F):
                    scan.claim(m.start(), m.end(), "NAME", w.lower())


def _name_after(text: str, pos: int, level: str, cue: str = "") -> tuple[int, int] | None:
    """Span of the name words starting at ``pos`` (after spaces, a colon, a title)."""
    n = len(text)
    while pos < n and text[pos] in " \t:,-–":
        pos += 1
    m = re.match(rf"{_TITLES}\.?\s+", text[pos:], _F)
    if m:
        pos += m.end()
    block = _NOT_AFTER_STRONG if level == "strong" else COMMON
    start = pos
    end = -1
    count = 0
    capitalised = True
    while count < 4:
        m = _WORD_RE.match(text, pos)
        if m is None:
            break
        w = m.group(0)
        lw = w.lower().rstrip("'’-")
        if lw in (STOP if count else block) or (level != "strong" and _common(lw)):
            break
        if lw in _PARTICLES and count:
            nxt = _WORD_RE.match(text, _skip_space(text, m.end()))
            if nxt is None or nxt.group(0).lower() in STOP:
                break
        elif not w[0].isupper():
            capitalised = False
        end = m.end()
        count += 1
        pos = _skip_space(text, m.end())
        if pos == m.end():  # no space after it: punctuation ends the name
            break
    if end < 0:
        return None
    if level == "title" and not capitalised:
        return None
    if level == "weak":
        if not capitalised and any(
            _NOT_NAME_ENDING.search(w) for w in _WORD_RE.findall(text[start:end])
        ):
            return None
        rest = text[end:].lstrip()
        nxt = _WORD_RE.match(rest)
        trailers = (
            _TRAILERS if cue.lower().startswith(("this", "i")) else _TRAILERS - {"from", "with"}
        )
        trailer = nxt is not None and nxt.group(0).lower() in trailers
        alone = (
            not rest
            or not rest[0].isalpha()
            or (nxt is not None and nxt.group(0).lower() in _STANDALONE_NEXT)
        )
        if not (trailer or (capitalised and alone)):
            return None
    return start, end


def _common(word: str) -> bool:
    """A common word, or the plural of one ("appointments")."""
    return word in COMMON or (word.endswith("s") and word[:-1] in COMMON)


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t":
        pos += 1
    return pos


def _spelled_names(scan: Scan) -> None:
    """Letters spelled one by one after "spelled"/"that's", or four or more anywhere."""
    runs = scan.spelled()
    if not runs:
        return
    cue_ends = set()
    if not scan.words.isdisjoint(SPELL_WORDS):
        cue_ends = {m.end() for m in _SPELL_CUE_RE.finditer(scan.text)}
    for start, _, chars in runs:
        letters = []
        for ch in chars:
            if not ch[0].isalpha():
                break
            letters.append(ch)
        cued = start in cue_ends
        if len(letters) >= (2 if cued else 4):
            name = "".join(c for c, _, _ in letters)
            scan.claim(letters[0][1], letters[-1][2], "NAME", name.lower())


def _norm(name: str) -> str:
    return " ".join(name.lower().split())


__all__ = ["CUE_WORDS", "SPELL_WORDS", "detect_names"]
