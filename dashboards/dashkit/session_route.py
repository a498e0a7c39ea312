"""``/_voiceobs/session``: the one HTTP route the dashboard adds to Streamlit's server.

``POST`` with a grant (a one-minute, single-use token the script signed right
after a password sign-in) answers with ``Set-Cookie: voiceobs_session=...``:
signed, expiring, HttpOnly, SameSite=Strict, Secure over HTTPS. ``GET``
clears the cookie (sign out). Only an HTTP response can set an HttpOnly
cookie, which is why this is a route and not script code
(``dashboards/server.py`` mounts it, ``dashkit/session.py`` signs and checks).
"""

from __future__ import annotations

import threading
import time

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from dashkit import session

_used: dict[str, float] = {}
_used_lock = threading.Lock()


def _spend(grant: str) -> bool:
    """True the first time a grant is seen (within its lifetime): grants are single use."""
    now = time.time()
    with _used_lock:
        for old, at in list(_used.items()):
            if now - at > 2 * session.GRANT_TTL_S:
                del _used[old]
        if grant in _used:
            return False
        _used[grant] = now
        return True


def _cookie(response: Response, value: str, max_age: int, request: Request) -> None:
    response.set_cookie(
        session.COOKIE, value, max_age=max_age, path="/", httponly=True, samesite="strict",
        # Secure whenever the browser speaks HTTPS, also through a TLS-terminating proxy.
        secure="https" in (request.url.scheme, request.headers.get("x-forwarded-proto", "")),
    )  # fmt: skip


async def session_route(request: Request) -> Response:
    """POST a grant to be signed in across reloads; GET to be signed out."""
    if request.method == "GET":
        response: Response = PlainTextResponse("signed out")
        _cookie(response, "", 0, request)
        return response
    grant = (await request.body()).decode(errors="replace").strip()
    name = session.verify(grant, kind="grant")
    if name is None or not _spend(grant):
        return PlainTextResponse("grant is invalid, expired or used; sign in again", 403)
    value, ttl = session.new_session(name)
    response = PlainTextResponse("signed in")
    _cookie(response, value, ttl, request)
    return response


__all__ = ["session_route"]
