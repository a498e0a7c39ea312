"""IP addresses, v4 and v6, written or said ("one nine two dot one six eight dot ...").

Loopback and unspecified addresses are kept: they identify no one and
appear in every local target URL and listen address.
"""

from __future__ import annotations

import ipaddress
import re

from voiceobs.redact.numbers import SPOKEN_TOKEN, run_digits
from voiceobs.redact.scan import Scan

_IPV4_RE = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV6_RE = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|\d{1,3}(?:\.\d{1,3}){3})?(?![\w:])"
)
_OCTET = rf"{SPOKEN_TOKEN}(?:\s+{SPOKEN_TOKEN}){{0,2}}"
_SPOKEN_IPV4_RE = re.compile(
    rf"(?<![\w'])(?P<a>{_OCTET})\s+(?:dot|point)\s+(?P<b>{_OCTET})\s+(?:dot|point)\s+"
    rf"(?P<c>{_OCTET})\s+(?:dot|point)\s+(?P<d>{_OCTET})",
    re.IGNORECASE,
)

#: Words a spoken address needs.
CUE_WORDS = frozenset({"dot", "point"})
#: Strings in which a dotted quad never stands for a person's address.
_KEEP_HOSTS = frozenset({"127.0.0.1", "0.0.0.0", "::1", "::"})


def public_ip(raw: str) -> str | None:
    """The compressed form of ``raw`` if it is an address that could identify someone."""
    if raw in _KEEP_HOSTS:
        return None
    try:
        ip = ipaddress.ip_address(raw)
    except ValueError:
        return None
    if ip.is_loopback or ip.is_unspecified:
        return None
    return ip.compressed


def detect_ips(scan: Scan) -> None:
    """Written IPv4 (needs four digits and a dot) and IPv6 (needs two colons)."""
    text = scan.text
    if scan.digits >= 4 and "." in text:
        for m in _IPV4_RE.finditer(text):
            _claim_ip(scan, m.start(), m.end(), m.group(0))
    if text.count(":") >= 2:
        for m in _IPV6_RE.finditer(text):
            _claim_ip(scan, m.start(), m.end(), m.group(0))


def detect_spoken_ips(scan: Scan) -> None:
    """Dotted quads said as words, each octet digit by digit or as a number."""
    if "dot" not in scan.words and "point" not in scan.words:
        return
    for m in _SPOKEN_IPV4_RE.finditer(scan.text):
        octets = []
        for g in "abcd":
            digits, _, _ = run_digits(m.group(g))
            if not digits or len(digits) > 3 or int(digits) > 255:
                break
            octets.append(str(int(digits)))
        else:
            _claim_ip(scan, m.start(), m.end(), ".".join(octets))


def _claim_ip(scan: Scan, start: int, end: int, raw: str) -> None:
    if raw in _KEEP_HOSTS:
        scan.protect(start, end)
        return
    norm = public_ip(raw)
    if norm is None:
        try:
            ipaddress.ip_address(raw)
        except ValueError:
            return
        scan.protect(start, end)  # loopback: keep it whole, so no digit rule takes it
        return
    scan.claim(start, end, "IP", norm)


__all__ = ["CUE_WORDS", "detect_ips", "detect_spoken_ips", "public_ip"]
