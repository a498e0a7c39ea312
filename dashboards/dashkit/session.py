"""Signed, expiring sign-in tokens: what keeps a dashboard user signed in across reloads.

A Streamlit session lives as long as one browser tab's WebSocket, so a
reload used to sign the user out. After a password sign-in the dashboard
now sets a cookie ``voiceobs_session`` holding ``NAME.EXPIRY.SIGNATURE``
(HMAC-SHA256 over name and expiry). It is HttpOnly, so page scripts can
never read it, which also means a Streamlit script cannot set it:
``dashkit/session_route.py`` is the one small route that does, mounted on
Streamlit's own server by ``dashboards/server.py``.

The key comes from the ``dashboard_session_key`` setting
(``VOICEOBS_DASHBOARD_SESSION_KEY``) or, by default, from
``dashboard-session.key`` in the data directory, created on first use with
owner-only permissions; deleting that file signs everyone out. The lifetime
is the ``dashboard_session_ttl`` setting (a duration such as ``12h``; default
12 hours). A wrong signature, a malformed value or a passed expiry means
signing in again, and the user must still be in the users file: removing a
user ends their cookie sessions too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from datetime import timedelta
from pathlib import Path

from voiceobs.config import data_dir, resolve
from voiceobs.durations import parse_duration
from voiceobs.errors import ConfigError

COOKIE = "voiceobs_session"
#: The route ``dashboards/server.py`` serves: POST a grant to set the cookie, GET to clear it.
ROUTE = "/_voiceobs/session"
DEFAULT_TTL = "12h"
#: A grant (script -> browser -> route) is good for this long, and once.
GRANT_TTL_S = 60
KEY_FILE = "dashboard-session.key"


def session_ttl() -> timedelta:
    """How long a sign-in lasts across reloads (``dashboard_session_ttl``)."""
    text = str(resolve("dashboard_session_ttl", None, DEFAULT_TTL))
    try:
        ttl = parse_duration(text)
    except Exception as exc:
        raise ConfigError(
            f"dashboard_session_ttl {text!r} is not a duration; use e.g. 30m, 12h or 7d"
        ) from exc
    if ttl.total_seconds() <= 0:
        raise ConfigError(f"dashboard_session_ttl {text!r} must be longer than zero")
    return ttl


def signing_key() -> bytes:
    """The HMAC key: the ``dashboard_session_key`` setting, else a key file in the data dir."""
    configured = resolve("dashboard_session_key", None, None)
    if configured:
        return str(configured).encode()
    path = Path(data_dir()) / KEY_FILE
    try:
        return path.read_bytes().strip() or _new_key(path)
    except FileNotFoundError:
        return _new_key(path)


def _new_key(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    try:
        # Two processes starting at once: the first key written wins, both use it.
        os.link(tmp, path)
    except FileExistsError:
        key = path.read_bytes().strip()
    finally:
        tmp.unlink(missing_ok=True)
    return key


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _unb64(text: str) -> str:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()


def _mac(key: bytes, kind: str, payload: str) -> str:
    return hmac.new(key, f"{kind}|{payload}".encode(), hashlib.sha256).hexdigest()


def sign(name: str, expires_at: float, *, kind: str = "session", key: bytes | None = None) -> str:
    """``NAME.EXPIRY.SIG`` for ``name`` until ``expires_at`` (Unix seconds)."""
    payload = f"{_b64(name)}.{int(expires_at)}"
    if kind == "grant":  # a grant is single-use: a random id makes each one distinct
        payload += f".{secrets.token_hex(8)}"
    return f"{payload}.{_mac(key or signing_key(), kind, payload)}"


def verify(
    token: str | None, *, kind: str = "session", now: float | None = None, key: bytes | None = None
) -> str | None:
    """The user name a token was signed for, or None if it is malformed, forged or expired."""
    if not isinstance(token, str) or not token:
        return None
    payload, _, sig = token.rpartition(".")
    parts = payload.split(".")
    if len(parts) != (3 if kind == "grant" else 2):
        return None
    if not hmac.compare_digest(sig, _mac(key or signing_key(), kind, payload)):
        return None
    try:
        name, expires_at = _unb64(parts[0]), int(parts[1])
    except (ValueError, UnicodeDecodeError):
        return None
    if expires_at <= (time.time() if now is None else now):
        return None
    return name


def new_session(name: str) -> tuple[str, int]:
    """A session cookie value for ``name`` and its lifetime in seconds."""
    ttl = int(session_ttl().total_seconds())
    return sign(name, time.time() + ttl), ttl


def new_grant(name: str) -> str:
    """A one-minute, single-use grant the browser trades for the session cookie."""
    return sign(name, time.time() + GRANT_TTL_S, kind="grant")


__all__ = [
    "COOKIE",
    "GRANT_TTL_S",
    "ROUTE",
    "new_grant",
    "new_session",
    "session_ttl",
    "sign",
    "signing_key",
    "verify",
]
