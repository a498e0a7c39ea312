"""Is this webhook post really from the platform? Each platform's own signature or secret, checked.

Where the schemes come from (each platform's public documentation):

* **Vapi** (docs.vapi.ai/server-url/server-authentication and the
  ``HMACAuthenticationPlan`` schema of its API): a server URL's secret is
  sent as the header ``x-vapi-secret`` (the legacy ``server.secret``), and
  the "secret token" credential sends it in ``X-Vapi-Signature``; a Bearer
  Token credential sends ``Authorization: Bearer <token>``; an HMAC
  credential signs with HMAC-SHA256, hex, either the body alone into the
  header it names (``x-vapi-signature`` as Vapi's own setup guides use) or,
  with the plan's defaults, ``"{timestamp}.{body}"`` into ``x-signature``
  with the time in ``x-timestamp``.
* **Retell** (docs.retellai.com/features/secure-webhook and the SDK's
  ``retell.lib.webhook_auth.verify``): the header ``x-retell-signature`` is
  ``v=<unix ms>,d=<hex HMAC-SHA256(key=API key, msg=body + str(ms))>``,
  refused when the time is more than five minutes away.

With a secret configured (``vapi_secret``, ``retell_api_key`` settings) a
post without a valid one is refused; every comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping

from voiceobs.config import resolve

#: How far a signed timestamp may be from now (Retell's SDK uses five minutes).
TOLERANCE_S = 300.0

#: The setting that holds each platform's secret.
SECRET_SETTINGS: dict[str, str] = {"vapi": "vapi_secret", "retell": "retell_api_key"}

_RETELL = re.compile(r"v=(\d+),d=([0-9a-fA-F]+)")


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _hmac_hex(key: str, message: bytes) -> str:
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def _fresh(stamp: str, now: float) -> bool:
    """A signed time, in seconds or milliseconds since the epoch, within the tolerance."""
    if not stamp.isdigit():
        return False
    value = int(stamp)
    seconds = value / 1000 if value > 10**11 else value
    return abs(now - seconds) <= TOLERANCE_S


def verify_vapi(headers: Mapping[str, str], body: bytes, secret: str, now: float) -> bool:
    """Whether a Vapi post carries ``secret`` by any scheme Vapi sends (see the module docstring).

    ``headers`` must look names up case-insensitively (Starlette's
    ``Headers``) or hold lower-case names.
    """
    plain = headers.get("x-vapi-secret")
    if plain and _same(plain, secret):
        return True
    auth = headers.get("authorization") or ""
    if auth[:7].lower() == "bearer " and _same(auth[7:].strip(), secret):
        return True
    signature = headers.get("x-vapi-signature")
    if signature:
        digest = signature.removeprefix("sha256=")
        if _same(signature, secret) or _same(digest.lower(), _hmac_hex(secret, body)):
            return True
    signed = headers.get("x-signature")
    stamp = headers.get("x-timestamp")
    if signed and stamp and _fresh(stamp, now):
        expected = _hmac_hex(secret, stamp.encode() + b"." + body)
        if _same(signed.removeprefix("sha256=").lower(), expected):
            return True
    return False


def verify_retell(headers: Mapping[str, str], body: bytes, api_key: str, now: float) -> bool:
    """Whether ``x-retell-signature`` signs ``body`` with ``api_key``, within five minutes."""
    signature = headers.get("x-retell-signature") or ""
    match = _RETELL.fullmatch(signature.strip())
    if not match:
        return False
    stamp, digest = match.groups()
    if abs(now - int(stamp) / 1000) > TOLERANCE_S:
        return False
    return _same(digest.lower(), _hmac_hex(api_key, body + stamp.encode()))


def sign_retell(body: bytes, api_key: str, now: float) -> str:
    """The ``x-retell-signature`` Retell would send for ``body`` at ``now`` (tests, examples)."""
    stamp = str(int(now * 1000))
    return f"v={stamp},d={_hmac_hex(api_key, body + stamp.encode())}"


def sign_vapi(body: bytes, secret: str) -> str:
    """The ``x-vapi-signature`` of a Vapi HMAC credential over the body alone."""
    return _hmac_hex(secret, body)


#: The check for each platform.
VERIFIERS: dict[str, Callable[[Mapping[str, str], bytes, str, float], bool]] = {
    "vapi": verify_vapi,
    "retell": verify_retell,
}


def configured_secrets() -> dict[str, str | None]:
    """Each platform's secret from settings (env var > config file), never from the command line."""
    out: dict[str, str | None] = {}
    for platform, setting in SECRET_SETTINGS.items():
        value = resolve(setting)
        out[platform] = str(value) if value else None
    return out


__all__ = [
    "SECRET_SETTINGS",
    "TOLERANCE_S",
    "VERIFIERS",
    "configured_secrets",
    "sign_retell",
    "sign_vapi",
    "verify_retell",
    "verify_vapi",
]
