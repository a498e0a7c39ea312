"""URLs: credentials by parameter name, personal data by content, the rest kept readable.

A target URL is stored with every probe result and exported with every
span, so whatever it carries is stored too: ``?token=...`` and
``user:password@`` are credentials whatever they look like (found by
name), ``?phone=...`` is a phone number because its name says so, and
``?q=call+me+on+415...`` or ``/calls/+14155551212`` hold personal data
found by content after percent-decoding. Scheme, host
names, loopback addresses, ports and ordinary paths stay as they were, so
the URL still says which target it was. Findings are placed on the raw
(encoded) URL, so the result is the same URL with values replaced, e.g.
``?token=[SECRET]``.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable

from voiceobs.redact.network import public_ip
from voiceobs.redact.policy import UrlRules
from voiceobs.redact.scan import Finding, Scan

#: Finds PII in a decoded piece of text: (text, depth) -> findings on that text.
FindFn = Callable[[str, int], list[Finding]]
#: Normalises a value of a kind for its pseudonym: (kind, value) -> normalised.
NormFn = Callable[[str, str], str]

URL_RE = re.compile(
    r"(?<![\w@])(?:[a-z][a-z0-9+.\-]{1,15}://|www\.)[^\s<>\"'`{}|\\^]+", re.IGNORECASE
)
_TRAILING = ".,;:!?'\""
_SCHEME_RE = re.compile(r"[a-z][a-z0-9+.\-]*:(?=//)", re.IGNORECASE)
_TOKENISH_RE = re.compile(r"(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9_\-.~]{16,}")
_HEX = frozenset("0123456789abcdefABCDEF")
#: How deep URLs inside URL parameters are followed (a redirect_uri inside a redirect_uri ...).
MAX_DEPTH = 3


def url_spans(text: str) -> list[tuple[int, int]]:
    """Where URLs are in ``text``, without the sentence punctuation that follows them."""
    spans = []
    for m in URL_RE.finditer(text):
        start, end = m.start(), m.end()
        while end > start and text[end - 1] in _TRAILING:
            end -= 1
        while (
            end > start
            and text[end - 1] == ")"
            and text.count("(", start, end) < text.count(")", start, end)
        ):
            end -= 1
        spans.append((start, end))
    return spans


def decode(raw: str, *, plus: bool) -> tuple[str, list[int]]:
    """Percent-decode ``raw`` (and ``+`` as space when ``plus``), with each char's raw offset.

    The offsets list has one more entry than the decoded text: the raw end,
    so a decoded span ``[s, e)`` is the raw span ``[offsets[s], offsets[e])``.
    """
    if "%" not in raw and not (plus and "+" in raw):
        return raw, list(range(len(raw) + 1))
    out: list[str] = []
    offsets: list[int] = []
    i = 0
    n = len(raw)
    while i < n:
        c = raw[i]
        if c == "%" and i + 2 < n and raw[i + 1] in _HEX and raw[i + 2] in _HEX:
            decoder = codecs.getincrementaldecoder("utf-8")("replace")
            first: int | None = None
            while i + 2 < n and raw[i] == "%" and raw[i + 1] in _HEX and raw[i + 2] in _HEX:
                if first is None:
                    first = i
                chars = decoder.decode(bytes([int(raw[i + 1 : i + 3], 16)]))
                i += 3
                for ch in chars:
                    out.append(ch)
                    offsets.append(first)
                if chars:
                    first = None
            for ch in decoder.decode(b"", final=True):
                out.append(ch)
                offsets.append(first if first is not None else i)
            continue
        out.append(" " if plus and c == "+" else c)
        offsets.append(i)
        i += 1
    offsets.append(n)
    return "".join(out), offsets


def url_findings(
    url: str, rules: UrlRules, find: FindFn, norm: NormFn, depth: int = 0
) -> list[Finding]:
    """Findings on ``url`` (offsets into it): credentials by name, personal data by content."""
    out: list[Finding] = []
    pos = 0
    n = len(url)
    scheme = _SCHEME_RE.match(url)
    if scheme:
        pos = scheme.end()
    if url.startswith("//", pos) or (not scheme and url[:4].lower() == "www."):
        if url.startswith("//", pos):
            pos += 2
        auth_end = _first_of(url, "/?#", pos)
        _authority(url, pos, auth_end, rules, find, out, depth)
        pos = auth_end
    path_end = _first_of(url, "?#", pos)
    seg_start = pos
    while seg_start <= path_end:
        seg_end = url.find("/", seg_start, path_end)
        if seg_end < 0:
            seg_end = path_end
        if seg_end > seg_start:
            _content(url, seg_start, seg_end, find, out, depth, plus=False)
        seg_start = seg_end + 1
    pos = path_end
    if pos < n and url[pos] == "?":
        q_end = _first_of(url, "#", pos + 1)
        _pairs(url, pos + 1, q_end, rules, find, norm, out, depth)
        pos = q_end
    if pos < n and url[pos] == "#":
        if "=" in url[pos + 1 :]:
            _pairs(url, pos + 1, n, rules, find, norm, out, depth)
        else:
            _content(url, pos + 1, n, find, out, depth, plus=False)
    return out


def _first_of(url: str, chars: str, start: int) -> int:
    ends = [i for i in (url.find(c, start) for c in chars) if i >= 0]
    return min(ends) if ends else len(url)


def _authority(
    url: str, start: int, end: int, rules: UrlRules, find: FindFn, out: list[Finding], depth: int
) -> None:
    at = url.rfind("@", start, end)
    host_start = start
    if at >= 0:
        colon = url.find(":", start, at)
        user_end = colon if colon >= 0 else at
        if colon >= 0 and at > colon + 1:
            value, _ = decode(url[colon + 1 : at], plus=False)
            out.append((colon + 1, at, "SECRET", value, None))
        if user_end > start:
            before = len(out)
            _content(url, start, user_end, find, out, depth, plus=False)
            user, _ = decode(url[start:user_end], plus=False)
            if len(out) == before and colon < 0 and _TOKENISH_RE.fullmatch(user):
                out.append((start, user_end, "SECRET", user, None))  # https://TOKEN@host
        host_start = at + 1
    host_end = end
    if url.startswith("[", host_start):
        close = url.find("]", host_start, end)
        if close > 0:
            ip = public_ip(url[host_start + 1 : close])
            if ip is not None:
                out.append((host_start + 1, close, "IP", ip, None))
        return
    colon = url.find(":", host_start, end)
    if colon >= 0:
        host_end = colon
    ip = public_ip(url[host_start:host_end]) if url[host_start:host_end][:1].isdigit() else None
    if ip is not None:
        out.append((host_start, host_end, "IP", ip, None))


def _content(
    url: str, start: int, end: int, find: FindFn, out: list[Finding], depth: int, *, plus: bool
) -> bool:
    """Personal data inside ``url[start:end]`` found by content; True if any."""
    raw = url[start:end]
    if len(raw) < 6:
        return False
    text, offsets = decode(raw, plus=plus)
    found = find(text, depth + 1)
    for s, e, kind, value, repl in found:
        out.append((start + offsets[s], start + offsets[e], kind, value, repl))
    return bool(found)


def _pairs(
    url: str,
    start: int,
    end: int,
    rules: UrlRules,
    find: FindFn,
    norm: NormFn,
    out: list[Finding],
    depth: int,
) -> None:
    pos = start
    while pos < end:
        amp = _first_of(url[:end], "&;", pos)
        eq = url.find("=", pos, amp)
        if eq < 0:
            _content(url, pos, amp, find, out, depth, plus=True)
        elif amp > eq + 1:
            name, _ = decode(url[pos:eq], plus=True)
            value, _ = decode(url[eq + 1 : amp], plus=True)
            kind = "SECRET" if rules.secret(name) else rules.pii_kind(name)
            if kind is not None and value.strip():
                # Named for what it holds: the whole value is that, whatever it looks like.
                out.append(
                    (eq + 1, amp, kind, value if kind == "SECRET" else norm(kind, value), None)
                )
            else:
                _content(url, eq + 1, amp, find, out, depth, plus=True)
        pos = amp + 1


def detect_urls(scan: Scan, rules: UrlRules, find: FindFn, norm: NormFn, depth: int) -> None:
    """Claim what URLs in the text carry, and keep the rest of each URL from other detectors."""
    text = scan.text
    if "://" not in text and "www." not in scan.lower:
        return
    for start, end in url_spans(text):
        url = text[start:end]
        found = url_findings(url, rules, find, norm, depth) if depth < MAX_DEPTH else []
        for s, e, kind, value, repl in sorted(found):
            scan.claim(s + start, e + start, kind, value, repl)  # refused where already claimed
        # The rest of the URL (host, port, path) is kept from every later detector.
        scan.protect_free(start, end)


__all__ = ["MAX_DEPTH", "URL_RE", "decode", "detect_urls", "url_findings", "url_spans"]
