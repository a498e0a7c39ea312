"""The Redactor: every detector in priority order, placeholders or keyed pseudonyms, the policy.

Each finding becomes a typed placeholder (``[PHONE]``, ``[EMAIL]``, ...).
With a key (argument, or the ``redact_key`` setting: ``VOICEOBS_REDACT_KEY``
or the config file) it becomes a keyed HMAC pseudonym of the *normalised*
value instead (``[PHONE:3f9a1c2b]``): the same number said two ways, or
given as a SIP attribute, maps to the same pseudonym in every process and
every run with that key, so one caller can be followed across calls
without anyone being able to read who it is.

Spans carry many short attributes, so the common case must be cheap: a
one-word value with no digit, ``@``, ``:`` or ``=``, or a text whose words
include no cue of any detector, returns at once.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import phonenumbers

from voiceobs.errors import ConfigError
from voiceobs.redact import dates, emails, names, network, places, secrets
from voiceobs.redact.dates import detect_dobs
from voiceobs.redact.emails import EMAIL_RE, detect_spoken_emails, detect_written_emails
from voiceobs.redact.financial import (
    detect_spelled_ibans,
    detect_written_cards,
    detect_written_ibans,
)
from voiceobs.redact.ids import detect_ninos, detect_ssns
from voiceobs.redact.names import detect_names
from voiceobs.redact.network import detect_ips, detect_spoken_ips
from voiceobs.redact.numbers import NUMBER_WORDS
from voiceobs.redact.phones import (
    NON_DIGIT,
    classify_digits,
    detect_spoken_runs,
    detect_written_runs,
    phone_e164,
)
from voiceobs.redact.places import detect_addresses, detect_postcodes
from voiceobs.redact.policy import Policy, load_policy
from voiceobs.redact.scan import Finding, Scan
from voiceobs.redact.secrets import detect_credentials, detect_cued_values
from voiceobs.redact.urls import detect_urls, url_findings

#: Environment variable holding the pseudonym key (any string; its UTF-8 bytes are used).
KEY_ENV = "VOICEOBS_REDACT_KEY"

#: The placeholder kinds, in the order detectors get first claim on the text.
KINDS: tuple[str, ...] = (
    "EMAIL", "IBAN", "IP", "DOB", "SSN", "NINO", "CARD", "SECRET", "ACCOUNT", "POSTCODE",
    "ADDRESS", "PHONE", "NAME", "DIGITS", "PII",
)  # fmt: skip

#: Any placeholder, shipped kinds or a policy's own: already redacted, never redacted again.
PLACEHOLDER_RE = re.compile(r"\[[A-Z][A-Z0-9_]{1,15}(?::[0-9a-f]{8})?\]")

#: Texts remembered as already redacted, per generation (see ``Redactor.mark_redacted``).
_REDACTED_MAX = 200_000
#: Texts up to this long have their redaction remembered (see ``memo_size``).
_SEEN_MAX_CHARS = 256
# Nothing in a one-word value can be personal without one of these characters.
_TOKEN_GATE = re.compile(r"[\d@:=]")
# Trace, span and run ids: one long hex word with a letter in it. Digit runs inside a
# word are never taken (a phone number or card is a word of its own), so only digits
# and dashes ("4111-1111-1111-1111") or an IBAN (two letters, two digits, ...) could be
# personal.
_HEX_ID = re.compile(r"[0-9a-fA-F][0-9a-fA-F\-]{15,}")
_HEX_LETTER = re.compile(r"[a-fA-F]")
_IBAN_START = re.compile(r"[A-Za-z]{2}\d{2}")
# Any word that some detector needs to see before it can find anything in a text
# without digits: spoken numbers, every detector's cue words, spelled letters.
_CUE_WORDS: frozenset[str] = (
    NUMBER_WORDS
    | dates.CUE_WORDS
    | emails.CUE_WORDS
    | names.CUE_WORDS
    | names.SPELL_WORDS
    | network.CUE_WORDS
    | places.CUE_WORDS
    | secrets.CUE_WORDS
    | frozenset("bcdefghjklmnopqrstuvwxyz")
)


def _load_key(key: bytes | str | None, use_env: bool) -> bytes | None:
    if key is None and use_env:
        from voiceobs.config import resolve

        key = resolve("redact_key") or None
    if isinstance(key, str):
        key = key.encode("utf-8")
    return key or None


def _load_policy(policy: Policy | str | Path | None, use_env: bool) -> Policy:
    if isinstance(policy, Policy):
        return policy
    if policy is None and use_env:
        from voiceobs.config import resolve

        policy = resolve("redact_policy") or None
    return load_policy(policy)


class Redactor:
    """Finds PII in text, URLs and span attributes and replaces it; configured once, used for every span.

    Compiling patterns and reading the key and policy once matters because
    a tracer calls this for every attribute of every span.
    """

    def __init__(
        self,
        key: bytes | str | None = None,
        *,
        region: str = "US",
        use_env: bool = True,
        memo_size: int = 4096,
        policy: Policy | str | Path | None = None,
    ) -> None:
        """``key`` (or the ``redact_key`` setting when ``use_env``) turns placeholders into pseudonyms.

        ``region`` is the default phone-number region (ISO 3166 code) used for
        numbers written or said without a country code, and decides whether
        numeric dates read month-first. ``policy`` is a loaded policy or the
        path of a user policy file merged over the defaults (default: the
        ``redact_policy`` setting when ``use_env``). ``memo_size`` texts (of up
        to 256 characters) have their outcome remembered; 0 turns that off.
        """
        self._key = _load_key(key, use_env)
        region = region.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ConfigError(
                f"unknown phone region {region!r}; use an ISO 3166 code such as US, GB or DE"
            )
        self.region = region
        self.policy = _load_policy(policy, use_env)
        # The truncation marker at the end of a value, as this policy writes it.
        marker = re.escape(self.policy.truncation_marker).replace(re.escape("{dropped}"), r"\d+")
        self._marker_re = re.compile(f"{marker}$")
        # Span attributes repeat (the target URL, the probe name, prompt ids) on
        # every call: remember the outcome for short texts. None means "unchanged".
        self._seen: dict[str, str | None] = {}
        self._memo_size = memo_size
        # Texts this redactor already produced (``mark_redacted``), in two generations so the
        # set stays bounded without a lock: lookups read both, a full one becomes the old one.
        self._redacted: dict[str, None] = {}
        self._redacted_old: dict[str, None] = {}
        # Phone numbers recur in every span of a call; parsing them is the dearest step.
        self._phones: dict[tuple[str, str, bool, str], str | None] | None = (
            {} if memo_size else None
        )

    @property
    def keyed(self) -> bool:
        """True when findings become pseudonyms rather than bare placeholders."""
        return self._key is not None

    def pseudonym(self, kind: str, normalised: str) -> str:
        """The placeholder for one finding: ``[KIND]`` or ``[KIND:hmac8]`` with a key.

        The HMAC-SHA256 covers the kind and the normalised value, so equal
        values correlate and nothing about the value can be recovered
        without the key; it depends on nothing but those, so it is the same
        in every process and every version.
        """
        if self._key is None:
            return f"[{kind}]"
        digest = hmac.new(self._key, f"{kind}:{normalised}".encode(), hashlib.sha256)
        return f"[{kind}:{digest.hexdigest()[:8]}]"

    # -- text -----------------------------------------------------------------------------

    def mark_redacted(self, texts: Iterable[str]) -> None:
        """Remember ``texts`` as this redactor's own output: redacting one again returns it as it is.

        A collector builds a call's turns from span attributes it redacted at
        the door, then records the call through the recording path, which
        redacts every text again. Redaction gives the same text the second
        time, so for those texts the second pass is a lookup; a text made
        anew (a transcript joined from several spans) is not marked and is
        redacted in full. At most ``_REDACTED_MAX`` texts per generation.
        """
        current = self._redacted
        for text in texts:
            if len(text) >= 6:
                current[text] = None
        if len(current) >= _REDACTED_MAX:
            self._redacted_old, self._redacted = current, {}

    def redact_text(self, text: str) -> str:
        """``text`` with every finding replaced; unchanged text is returned as the same object."""
        if len(text) < 6 or text in self._redacted or text in self._redacted_old:
            return text
        seen = self._seen.get(text, text)
        if seen is not text:
            return text if seen is None else seen
        findings = self._find(text, 0)
        result = self._render(text, findings) if findings else None
        if self._memo_size and len(text) <= _SEEN_MAX_CHARS:
            if len(self._seen) >= self._memo_size:
                self._seen.clear()
            self._seen[text] = result
        return text if result is None else result

    def redact_url(self, url: str) -> str:
        """``url`` with credentials (by parameter name, userinfo password) and personal data replaced.

        Scheme, host names, loopback addresses, ports and ordinary path and
        query parts are kept, so the result is the same URL, still readable:
        ``ws://127.0.0.1:8765/x?token=[SECRET]&email=[EMAIL]``.
        """
        if not url:
            return url
        findings = url_findings(url, self.policy.url, self._find, self._normalise, 0)
        findings = _non_overlapping(findings)
        return self._render(url, findings) if findings else url

    def find(self, text: str) -> list[tuple[int, int, str, str]]:
        """Every finding as ``(start, end, kind, normalised)``, sorted and non-overlapping.

        Detectors run in priority order and a later one never claims text an
        earlier one took: an IP is not also a digit run, a date of birth is
        not also a spoken year.
        """
        return [(s, e, k, n) for s, e, k, n, _ in self._find(text, 0)]

    def _find(self, text: str, depth: int) -> list[Finding]:
        if len(text) < 6:
            return []
        if " " not in text and "\n" not in text and "\t" not in text:
            # One word: only written forms are possible, and they need one of these.
            if _TOKEN_GATE.search(text) is None:
                return []
            if _HEX_ID.fullmatch(text) and _HEX_LETTER.search(text) and not _IBAN_START.match(text):
                return []
        scan = Scan(text, self.region, self._phones)
        if (
            not scan.digits
            and scan.words.isdisjoint(_CUE_WORDS)
            and "@" not in text
            and ":" not in text
            and "=" not in text
            and "eyJ" not in text
        ):
            return []
        if "[" in text:
            for m in PLACEHOLDER_RE.finditer(text):
                scan.protect(m.start(), m.end())
        detect_urls(scan, self.policy.url, self._find, self._normalise, depth)
        if scan.taken and sum(e - s for s, e, _, _, _ in scan.taken) == len(text):
            return scan.findings()  # all of it is one URL (a target attribute), already done
        detect_credentials(scan)
        detect_written_emails(scan)
        detect_spoken_emails(scan)
        detect_written_ibans(scan)
        detect_spelled_ibans(scan)
        detect_ips(scan)
        detect_spoken_ips(scan)
        detect_dobs(scan)
        detect_ssns(scan)
        detect_ninos(scan)
        detect_written_cards(scan)
        detect_cued_values(scan)
        detect_addresses(scan)
        detect_postcodes(scan)
        detect_spoken_runs(scan)
        detect_written_runs(scan)
        detect_names(scan)
        return scan.findings()

    def _render(self, text: str, findings: list[Finding]) -> str:
        out: list[str] = []
        pos = 0
        for start, end, kind, norm, repl in findings:
            out.append(text[pos:start])
            out.append(repl if repl is not None else self.pseudonym(kind, norm))
            pos = end
        out.append(text[pos:])
        return "".join(out)

    # -- values and attributes ------------------------------------------------------------

    def redact_value(self, value: Any, max_chars: int | None = None) -> Any:
        """Redact one attribute value of any OpenTelemetry type.

        Strings are redacted by content (a JSON document field by field, so
        it stays valid JSON) and cut at ``max_chars`` (default: the policy's)
        with a marker; sequences element by element (keeping their type);
        mappings by :meth:`redact_attributes`; numbers, booleans and bytes
        pass through, because measurements such as ``ttfb_ms`` must survive.
        """
        if isinstance(value, str):
            return self._redact_string(
                value, self.policy.max_chars if max_chars is None else max_chars
            )
        if isinstance(value, (bool, int, float, bytes)) or value is None:
            return value
        if isinstance(value, Mapping):
            return self.redact_attributes(value)
        if isinstance(value, (list, tuple)):
            items = [self.redact_value(v, max_chars) for v in value]
            if all(a is b for a, b in zip(items, value, strict=True)):
                return value
            return tuple(items) if isinstance(value, tuple) else items
        if isinstance(value, Sequence):
            return [self.redact_value(v, max_chars) for v in value]
        return value

    def redact_attributes(self, mapping: Mapping[str, Any] | None) -> dict[str, Any]:
        """A new dict of span attributes redacted by key (the policy) and by value.

        Keys the policy marks personal are pseudonymised or dropped; keys it
        keeps are left alone; every other value is redacted by content.
        """
        out: dict[str, Any] = {}
        if not mapping:
            return out
        policy = self.policy
        for key, value in mapping.items():
            action, kind, limit = policy.action_for(str(key))
            if action == "drop":
                continue
            if action == "keep":
                out[key] = value
            elif action == "pseudonymise":
                out[key] = self._pseudonymise(value, kind or "auto")
            else:
                out[key] = self.redact_value(value, limit)
        return out

    def redact_mapping(self, mapping: Mapping[str, Any]) -> dict[str, Any]:
        """Same as :meth:`redact_attributes` (kept for callers of the earlier name)."""
        return self.redact_attributes(mapping)

    def _redact_string(self, value: str, limit: int) -> str:
        stripped = value.strip()
        if stripped[:1] in ("{", "[") and stripped[-1:] in ("}", "]") and len(stripped) > 1:
            try:
                doc = json.loads(stripped)
            except (ValueError, RecursionError):
                doc = _NOT_JSON
            if doc is not _NOT_JSON and isinstance(doc, (dict, list)):
                try:
                    new = self._json(doc, None)
                except RecursionError:
                    new = _NOT_JSON
                if new is not _NOT_JSON:
                    text = value if new is doc else json.dumps(new, ensure_ascii=False)
                    return self._cut(text, limit) if len(text) > limit else text
        if len(value) > limit:
            return self._truncate(value, limit)
        marker = self._marker_re.search(value)
        if marker is not None:
            # Cut before (a span redacted at start and again at end): the marker stays as it is.
            head = value[: marker.start()]
            clean = self.redact_text(head)
            return value if clean is head else clean + value[marker.start() :]
        return self.redact_text(value)

    def _json(self, node: Any, path: str | None) -> Any:
        """``node`` with strings redacted and keys applied to the policy; same object if unchanged."""
        if isinstance(node, str):
            return self._redact_string(node, 1 << 62)
        if isinstance(node, list):
            items = [self._json(v, path) for v in node]
            return node if all(a is b for a, b in zip(items, node, strict=True)) else items
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            changed = False
            for k, v in node.items():
                sub = f"{path}.{k}" if path else str(k)
                action, kind, _ = self.policy.action_for(str(k), sub)
                if action == "drop":
                    changed = True
                    continue
                if action == "keep":
                    new = v
                elif action == "pseudonymise":
                    new = self._pseudonymise(v, kind or "auto") if v is not None else v
                else:
                    new = self._json(v, sub)
                changed = changed or new is not v
                out[k] = new
            return out if changed else node
        return node

    def _truncate(self, value: str, limit: int) -> str:
        """Redact a long value and cut it to ``limit`` characters, marker included.

        The redaction sees a margin beyond the cut, so a value that straddles
        the cut is found whole and replaced whole, never left half-visible;
        plain text is never kept from past ``limit`` in the original.
        """
        window = value[: limit + _MARGIN]
        findings = self._find(window, 0)
        template = self.policy.truncation_marker
        budget = max(0, limit - len(template.format(dropped=len(value))))
        out: list[str] = []
        used = 0
        pos = 0
        cut = -1
        for start, end, kind, norm, repl in findings:
            room = min(budget - used, limit - pos)
            plain = window[pos:start]
            if len(plain) > room:
                out.append(plain[: max(0, room)])
                cut = pos + max(0, room)
                break
            out.append(plain)
            used += len(plain)
            token = repl if repl is not None else self.pseudonym(kind, norm)
            if used + len(token) > budget:
                cut = start
                break
            out.append(token)
            used += len(token)
            pos = end
        if cut < 0:
            room = max(0, min(budget - used, limit - pos))
            tail = window[pos : pos + room]
            out.append(tail)
            cut = pos + len(tail)
        return "".join(out) + template.format(dropped=len(value) - cut)

    def _cut(self, text: str, limit: int) -> str:
        """Cut already-redacted text to ``limit``, never through a placeholder."""
        marker = self.policy.truncation_marker.format(dropped=len(text))
        cut = max(0, limit - len(marker))
        for m in PLACEHOLDER_RE.finditer(text, max(0, cut - 30), cut + 30):
            if m.start() < cut < m.end():
                cut = m.start()
        return text[:cut] + self.policy.truncation_marker.format(dropped=len(text) - cut)

    def _pseudonymise(self, value: Any, kind: str) -> Any:
        if isinstance(value, str):
            v = value.strip()
            if not v or PLACEHOLDER_RE.fullmatch(v):
                return value
            if kind == "auto":
                kind, norm = self._auto_kind(v)
            else:
                norm = self._normalise(kind, v)
            return self.pseudonym(kind, norm)
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, (int, float)):
            return self._pseudonymise(str(value), kind)
        if isinstance(value, bytes):
            return self._pseudonymise(value.hex(), kind)
        if isinstance(value, (list, tuple)):
            items = [self._pseudonymise(v, kind) for v in value]
            return tuple(items) if isinstance(value, tuple) else items
        return self._pseudonymise(str(value), kind)

    def _normalise(self, kind: str, value: str) -> str:
        """The value a pseudonym covers: E.164 for phones, lower case for emails and names."""
        v = value.strip()
        if kind == "PHONE":
            core = _phone_core(v)
            digits = NON_DIGIT.sub("", core)
            if digits:
                international = core.startswith("+") or core.startswith("00")
                e164 = phone_e164(
                    digits, self.region, international=international, raw=core, cache=self._phones
                )
                return e164 or digits
            return v
        if kind in ("EMAIL", "NAME", "ADDRESS", "POSTCODE"):
            return " ".join(v.lower().split())
        if kind in ("CARD", "IBAN", "SSN", "NINO", "ACCOUNT", "DIGITS"):
            return _SPACES_DASHES.sub("", v).upper()
        return v

    def _auto_kind(self, value: str) -> tuple[str, str]:
        """The kind a whole value is (a phone, an email, ...), or PII when it is none of them."""
        core = _phone_core(value)
        if _PHONE_LIKE.fullmatch(core):
            digits = NON_DIGIT.sub("", core)
            if len(digits) >= 7:
                international = core.startswith("+") or core.startswith("00")
                return classify_digits(
                    digits, self.region, international=international, raw=core, cache=self._phones
                )
        if EMAIL_RE.fullmatch(value):
            return "EMAIL", value.lower()
        found = self._find(value, 0)
        if len(found) == 1 and found[0][2] and found[0][1] - found[0][0] >= len(value) - 2:
            return found[0][2], found[0][3]
        return "PII", value


_NOT_JSON = object()
#: How far past a cut the redactor looks, so a value straddling the cut is found whole.
_MARGIN = 256
_PHONE_LIKE = re.compile(r"\+?[\d\s().\-/]{7,24}")
_SPACES_DASHES = re.compile(r"[\s\-]")
_PHONE_PREFIX = re.compile(r"^(?:sips?:|tel:|sip_|phone_|\+?identity_)", re.IGNORECASE)


def _phone_core(value: str) -> str:
    """``sip:+14155551212@host``, ``tel:+1-415-...``, ``sip_+1415...`` -> the number part."""
    core = _PHONE_PREFIX.sub("", value.strip())
    at = core.find("@")
    if at > 0:
        core = core[:at]
    return core.strip()


def _non_overlapping(findings: list[Finding]) -> list[Finding]:
    out: list[Finding] = []
    end = -1
    for f in sorted(findings):
        if f[0] >= end:
            out.append(f)
            end = f[1]
    return out


@functools.lru_cache(maxsize=8)
def _cached_redactor(key: bytes | None, policy_path: str | None, mtime_ns: int) -> Redactor:
    return Redactor(key, use_env=False, policy=policy_path)


def default_redactor(key: bytes | str | None = None) -> Redactor:
    """A shared redactor for ``key`` (or the ``redact_key`` setting) and the ``redact_policy``, built once."""
    from voiceobs.config import resolve

    if key is None:
        key = resolve("redact_key") or None
    if isinstance(key, str):
        key = key.encode("utf-8")
    path = resolve("redact_policy") or None
    mtime = 0
    if path is not None:
        try:
            mtime = Path(str(path)).expanduser().stat().st_mtime_ns
        except OSError:
            mtime = -1  # load_policy raises the one-line error
    return _cached_redactor(key or None, str(path) if path is not None else None, mtime)


def redact_text(text: str, key: bytes | None = None) -> str:
    """Redact PII in ``text`` with the shared redactor (key from argument or settings)."""
    return default_redactor(key).redact_text(text)


__all__ = ["KEY_ENV", "KINDS", "PLACEHOLDER_RE", "Redactor", "default_redactor", "redact_text"]
