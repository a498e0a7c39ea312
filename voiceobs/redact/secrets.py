"""Secrets and account identifiers given after their cue words.

"my pin is four four two one", "the code is 839201", "password is
hunter2", "order number A B 4 5 9 2 1": short values that only a cue makes
personal. The cue decides the kind (a PIN, password or one-time code is a
``SECRET``; an account, order, booking or policy number is an ``ACCOUNT``)
and the value is read in every form: digits, digits said as words,
characters spelled one by one, or a code of letters and digits. Without
the cue ("flight 370", "order 4821 has shipped", "press one") the number
stays. Credentials in machine text (``api_key=...``, ``Authorization:
Bearer ...``, JWTs) are secrets too.
"""

from __future__ import annotations

import re

from voiceobs.redact.numbers import SPOKEN_TOKEN, run_digits
from voiceobs.redact.phones import CURRENCY_BEFORE as _CURRENCY_BEFORE
from voiceobs.redact.phones import UNIT_AFTER as _UNIT_AFTER
from voiceobs.redact.scan import Scan
from voiceobs.redact.words import COMMON, STOP, word_set

_F = re.IGNORECASE
_DET = r"(?:(?:my|your|the|a|this|that|his|her|our|their)\s+)?"
_SECRET_CUES = (
    r"pin(?:\s+(?:number|code))?|passcode|pass\s+code|password|passphrase|pass\s+phrase|passwd|pwd"
    r"|(?:(?<!social\s)security|verification|verify|one[-\s]time|otp|auth(?:entication|orization)?|access|login"
    r"|sign[-\s]in|sms|2fa|two[-\s]factor|mfa|activation|reset|unlock)\s+(?:code|pin|number|passcode|word)"
    r"|otp|cvv2?|cvc2?|csc|security\s+(?:answer|word)|memorable\s+(?:word|answer)"
)
_ACCOUNT_CUES = (
    r"(?:bank\s+|checking\s+|savings\s+)?(?:account|acct|a/c)(?:\s+(?:number|no\.?|num|#|id))?"
    r"|(?:order|booking|reservation|confirmation|reference|ref|case|ticket|claim|policy|member(?:ship)?"
    r"|customer|client|loyalty|rewards|frequent\s+flyer|tracking|invoice|routing|sort|passport"
    r"|(?:driver['’]?s\s+)?licen[cs]e|patient|employee|student|medical\s+record|tax|vat|ein|tin"
    r"|national\s+id|user|subscriber|contract|serial|vin|iccid|imei)\s*(?:number|no\.?|num|#|id|code|reference|ref)"
    r"|(?:booking|confirmation|reservation)\s+(?:code|reference|ref)"
    r"|(?:order|booking|reservation|confirmation|reference|case|ticket|policy|membership|member\s+id"
    r"|customer\s+id|user\s+id|id|username|user\s+name|login|handle|passport"
    r"|(?:driver['’]?s\s+)?licen[cs]e)(?=\s+(?:is|was|:)|['’]s\b|:)"
    r"|card\s+ending\s+(?:in|with)|ending\s+(?:in|with)|last\s+(?:four|4)(?:\s+digits)?(?:\s+(?:are|is|of))?"
)
_CUE_RE = re.compile(
    rf"\b{_DET}(?:(?P<secret>{_SECRET_CUES})|(?P<account>{_ACCOUNT_CUES})|(?P<code>code))\b\.?",
    _F,
)
_FILLER_RE = re.compile(
    r"\s*(?:(?:number|no\.?|#)\s*)?(?:(?:is|was|['’]s|=|:|-|would\s+be|will\s+be|it['’]s|should\s+be"
    r"|reads|of|as\s+follows|here)\s*)*[:=#]?\s*",
    _F,
)
_MONEY_WORDS = word_set(
    "balance total amount limit fee fees charge cost price due payment owed credit"
)
_LATER_IS_RE = re.compile(
    r"(?:[\s,]+[\w'’]+){1,5}?[\s,]+(?:is|was|are|=|:|that['’]s|it['’]s)\s*", _F
)
_DECIMAL_RE = re.compile(r"\d+[.,]\d{1,2}")
_DIGIT_GROUPS_RE = re.compile(r"\d+(?:[ \-.]\d+)*(?![\w])")
_CODE_TOKEN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-_/]*[A-Za-z0-9]|[A-Za-z0-9]")
_SPOKEN_VALUE_RE = re.compile(rf"{SPOKEN_TOKEN}(?:(?:\s*[,.-]\s*|\s+){SPOKEN_TOKEN}){{0,19}}", _F)
_PASSWORD_TOKEN_RE = re.compile(r"[^\s]+")
_PASS_WORD_RE = re.compile(r"\s+([A-Za-z0-9][\w!@#$%^&*+\-]*)(?=[\s.,;!?]|$)")
CUE_WORDS = word_set(
    "pin passcode pass password passphrase passwd pwd code otp cvv cvv2 cvc cvc2 csc security "
    "memorable account acct order booking reservation confirmation reference ref case ticket "
    "claim policy member membership customer client loyalty rewards flyer tracking invoice "
    "routing sort passport license licence patient employee student medical tax vat ein tin "
    "national user subscriber contract serial vin iccid imei ending last id username login "
    "handle driver's answer bearer basic"
)
# Words a cue can start with (its determiner or its first word).
_ANCHORS = word_set(
    "my your the a this that his her our their pin passcode pass password passphrase passwd "
    "pwd security verification verify one otp auth authentication authorization access login "
    "sign sms two mfa activation reset unlock cvv cvc csc memorable bank checking savings "
    "account acct order booking reservation confirmation reference ref case ticket claim "
    "policy member membership customer client loyalty rewards frequent tracking invoice "
    "routing sort passport driver's driver license licence patient employee student medical "
    "tax vat ein tin national user subscriber contract serial vin iccid imei id username "
    "handle card ending last code"
)
# "the error code is 500": codes that identify nobody.
_NOT_SECRET_CODE = re.compile(
    r"(?:zip|post|postal|area|country|error|status|http|response|return|exit|promo|promotional"
    r"|discount|coupon|voucher|dress|source|bar|qr|product|item|sku|airport|iata|colour|color"
    r"|language|currency|reason|fault|tax|billing|dialling|dialing|region|station|course|class)\s+$",
    _F,
)
_KV_RE = re.compile(
    r"(?<![\w-])(?P<name>[A-Za-z0-9_.\-]*(?:token|secret|password|passwd|pwd|api[_-]?key|apikey"
    r"|access[_-]?key|private[_-]?key|auth(?:orization)?|signature|credentials?|session[_-]?id"
    r"|cookie|x-api-key))(?P<q>[\"']?)\s*(?P<op>[:=])\s*[\"']?"
    r"(?P<value>(?:(?:bearer|basic|token|digest)\s+)?[^\s\"';,]+)",
    _F,
)
_KV_HINTS = (
    "token",
    "secret",
    "pass",
    "pwd",
    "key",
    "auth",
    "signature",
    "credential",
    "session",
    "cookie",
)
_BEARER_RE = re.compile(r"\b(?:bearer|basic)\s+(?P<v>[A-Za-z0-9\-._~+/]{8,}=*)", _F)
_JWT_RE = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")


def detect_credentials(scan: Scan) -> None:
    """``key=value`` and header-style credentials, bearer tokens and JWTs in machine text."""
    text = scan.text
    lower = scan.lower
    if ("=" in text or ":" in text) and any(w in lower for w in _KV_HINTS):
        for m in _KV_RE.finditer(text):
            value_start = m.start("value")
            value = m.group("value")
            scheme = re.match(r"(?i)(?:bearer|basic|token|digest)\s+", value)
            if scheme:
                value_start += scheme.end()
                value = value[scheme.end() :]
            if m.group("op") == "=":
                value = value.split("&", 1)[
                    0
                ]  # a query string: the next parameter is not the value
            elif value.lower() in COMMON:
                continue  # "password: reset" in prose
            value = value.rstrip(".,)")
            if value:
                scan.claim(value_start, value_start + len(value), "SECRET", value)
    if "bearer" in scan.words or "basic" in scan.words:
        for m in _BEARER_RE.finditer(text):
            scan.claim(m.start("v"), m.end("v"), "SECRET", m.group("v"))
    if "eyJ" in text:
        for m in _JWT_RE.finditer(text):
            scan.claim(m.start(), m.end(), "SECRET", m.group(0))


def detect_cued_values(scan: Scan) -> None:
    """PINs, passwords, codes, account and order numbers after their cue words."""
    if scan.words.isdisjoint(CUE_WORDS):
        return
    text = scan.text
    for pos in scan.positions(scan.words & _ANCHORS):
        m = _CUE_RE.match(text, pos)
        if m is None or not scan.free(m.start(), m.end()):
            continue
        if m.group("code") is not None and _NOT_SECRET_CODE.search(
            text[max(0, m.start() - 20) : m.start()]
        ):
            continue
        kind = "ACCOUNT" if m.group("account") is not None else "SECRET"
        secret = (m.group("secret") or "").lower()
        # Passwords and security answers are words; PINs and codes are digits or codes.
        password = secret.startswith(("pass", "security a", "security w", "memorable"))
        filler = _FILLER_RE.match(text, m.end())
        start = filler.end() if filler else m.end()
        value = _value_at(scan, start, password=password, kind=kind)
        if value is None:
            # "the security code on the back is 135": a few words, then the value.
            later = _LATER_IS_RE.match(text, m.end())
            if later and _MONEY_WORDS.isdisjoint(later.group(0).lower().split()):
                start = later.end()
                value = _value_at(scan, start, password=password, kind=kind)
        if value is not None:
            end, norm = value
            if _CURRENCY_BEFORE.search(text[max(0, start - 5) : start]) or _UNIT_AFTER.match(
                text, end
            ):
                continue  # "my account balance is 250 dollars": an amount, not an identifier
            taken = [s for s, e, _, _, _ in scan.taken if start < e and s < end]
            if taken:
                # Something in the value's reach is already claimed: keep what comes before it.
                end = min(taken)
                while end > start and not text[end - 1].isalnum():
                    end -= 1
                norm = text[start:end]
            if end > start:
                scan.claim(start, end, kind, norm)


def _value_at(scan: Scan, pos: int, *, password: bool, kind: str) -> tuple[int, str] | None:
    """The longest value starting at ``pos``: digits, spoken digits, spelled chars, or a code."""
    text = scan.text
    best: tuple[int, str] | None = None

    def offer(end: int, norm: str) -> None:
        nonlocal best
        if text[end : end + 1] == "-" and text[end + 1 : end + 2].isalpha():
            return  # "12 one-way": the value would end inside a word
        if best is None or end > best[0]:
            best = (end, norm)

    m = _DIGIT_GROUPS_RE.match(text, pos)
    if m and _DECIMAL_RE.fullmatch(m.group(0)):
        return None  # "12.50": an amount
    if m and sum(c.isdigit() for c in m.group(0)) >= 3:
        offer(m.end(), re.sub(r"\D", "", m.group(0)))
    m = _SPOKEN_VALUE_RE.match(text, pos)
    if m:
        digits, spoken, _ = run_digits(m.group(0))
        if spoken and len(digits) >= 3:
            offer(m.end(), digits)
    for s, _, chars in scan.spelled():
        if s == pos and len(chars) >= 3:
            offer(chars[-1][2], "".join(c for c, _, _ in chars))
    m = _CODE_TOKEN_RE.match(text, pos)
    if m:
        tok = m.group(0)
        has_digit = any(c.isdigit() for c in tok)
        if password:
            raw = _PASSWORD_TOKEN_RE.match(text, pos)
            if raw:
                word = raw.group(0).rstrip(".,;!?)\"'")
                if word and (word.lower() not in COMMON or any(not c.isalpha() for c in word)):
                    end = pos + len(word)
                    # "purple monkey seven": a passphrase goes on until the clause ends.
                    for _ in range(3):
                        nxt = _PASS_WORD_RE.match(text, end)
                        if nxt is None or nxt.group(1).lower() in STOP:
                            break
                        end = nxt.end()
                    offer(end, text[pos:end])
        elif (has_digit and len(tok) >= 4) or (
            kind == "ACCOUNT" and tok.isupper() and tok.isalpha() and 5 <= len(tok) <= 10
        ):
            offer(m.end(), tok.upper())
    return best


__all__ = ["CUE_WORDS", "detect_credentials", "detect_cued_values"]
