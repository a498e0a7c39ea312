"""Sign-in for the dashboard: a users file (scrypt hashes), Streamlit secrets, or OIDC.

Sign-in is required unless ``VOICEOBS_DASHBOARD_AUTH=none`` (``voiceobs
dashboard --no-auth``). Users come from the users file and from
``[users.NAME]`` tables in Streamlit secrets; when secrets configure
``[auth]``, an SSO button signs in through ``st.login`` and the email listed
under ``[roles] operators`` decides who may act on incidents.

Password sign-in is throttled per user name and per client address
(``voiceobs.signin``): the counts are shared by every session and every
dashboard process using the same data directory. A password sign-in lasts
across reloads through a signed, expiring, HttpOnly cookie
(``dashkit/session.py``, set by the route in ``dashboards/server.py``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import streamlit as st
import streamlit.components.v1 as components

from dashkit import session
from voiceobs.config import resolve
from voiceobs.errors import VoiceObsError
from voiceobs.signin import sign_in
from voiceobs.users import User, load_users, parse_users, users_file

SESSION_KEY = "voiceobs_user"
#: A grant waiting to be traded for the cookie, and when it was made.
GRANT_KEY = "voiceobs_session_grant"
#: Set on sign-out: this browser session no longer trusts the cookie it came with.
SIGNED_OUT_KEY = "voiceobs_signed_out"


def auth_disabled() -> bool:
    """True when the operator started the dashboard with ``--no-auth``."""
    return str(resolve("dashboard_auth", None, "")).lower() in {"none", "off", "0"}


def _secrets() -> Mapping[str, Any]:
    try:
        return dict(st.secrets)
    except Exception:  # no secrets.toml is the common case, not an error
        return {}


def known_users() -> tuple[dict[str, User], str | None]:
    """Users from the file and secrets, and a one-line problem to show if either is broken."""
    users: dict[str, User] = {}
    problem = None
    try:
        users.update(load_users())
    except VoiceObsError as exc:
        problem = str(exc)
    secrets = _secrets()
    if "users" in secrets:
        try:
            users.update(parse_users(secrets, "Streamlit secrets"))
        except VoiceObsError as exc:
            problem = str(exc)
    return users, problem


def oidc_configured() -> bool:
    """True when secrets hold an ``[auth]`` section for ``st.login``."""
    auth = _secrets().get("auth")
    return isinstance(auth, Mapping) and bool(auth)


def _oidc_user() -> User | None:
    if not oidc_configured():
        return None
    try:
        info = st.user
        if not info.get("is_logged_in"):
            return None
        email = str(info.get("email") or info.get("name") or "sso-user")
    except Exception:
        return None
    roles = _secrets().get("roles", {})
    operators = set(roles.get("operators", [])) if isinstance(roles, Mapping) else set()
    return User(name=email, role="operator" if email in operators else "viewer")


def client_address() -> str:
    """Who is signing in, for throttling: the peer address, or a local proxy's forwarded one.

    Streamlit reports no address for a loopback peer; that peer is most often a
    reverse proxy on the same host, whose ``X-Forwarded-For`` names the real
    client. Without either, every local client shares one counter (``local``);
    the per-user counter throttles a guesser either way.
    """
    try:
        ip = st.context.ip_address
        if ip:
            return str(ip)
        forwarded = st.context.headers.get("X-Forwarded-For", "")
    except Exception:  # outside a browser session (tests, bare mode)
        return "local"
    first = forwarded.split(",")[0].strip()
    return first or "local"


def _cookie_user() -> User | None:
    """The user a valid session cookie names, if they are still a known user.

    The role is read from the users file now, not from the cookie, so a
    changed role applies at the next reload and a removed user is signed out.
    """
    if st.session_state.get(SIGNED_OUT_KEY):
        return None
    try:
        token = st.context.cookies.get(session.COOKIE)
    except Exception:  # no browser request behind this session (tests, bare mode)
        return None
    name = session.verify(token)
    if name is None:
        return None
    users, _ = known_users()
    known = users.get(name)
    return None if known is None else User(name=known.name, role=known.role)


def current_user() -> User | None:
    """Who is signed in to this browser session, if anyone (session, then cookie, then OIDC)."""
    if auth_disabled():
        return User(name="local", role="operator")
    user = st.session_state.get(SESSION_KEY)
    if isinstance(user, User):
        return user
    user = _cookie_user()
    if user is not None:
        st.session_state[SESSION_KEY] = user
        return user
    return _oidc_user()


def _browser_call(method: str, body: str = "") -> None:
    """Have the browser call the session route (same origin, so the cookie is its own)."""
    components.html(
        "<script>fetch(" + repr(session.ROUTE) + ", {method: " + repr(method)
        + ", credentials: 'same-origin', body: " + (repr(body) if body else "null") + "});</script>",
        height=0,
    )


def keep_signed_in() -> None:
    """Right after a password sign-in, trade the grant for the HttpOnly cookie (once)."""
    grant = st.session_state.get(GRANT_KEY)
    if grant is None:
        return
    token, made_at = grant
    if time.monotonic() - made_at > session.GRANT_TTL_S:
        st.session_state.pop(GRANT_KEY, None)
        return
    _browser_call("POST", token)


def sign_out() -> None:
    """Forget the session's user and its cookie (and end the OIDC session when there is one)."""
    st.session_state.pop(SESSION_KEY, None)
    st.session_state.pop(GRANT_KEY, None)
    st.session_state[SIGNED_OUT_KEY] = True
    if oidc_configured():
        try:
            if st.user.get("is_logged_in"):
                st.logout()
        except Exception:
            pass


def sign_in_page() -> None:
    """The only page shown before sign-in."""
    if st.session_state.get(SIGNED_OUT_KEY):
        _browser_call("GET")  # clear the cookie too, or the next reload signs in again
    st.title("voiceobs")
    st.caption("Sign in to see SLOs, latency, quality, calls, incidents and capacity.")
    users, problem = known_users()
    if problem:
        st.error(problem)
    sso = oidc_configured()
    if not users and not sso:
        st.warning(
            "No dashboard users yet. Create the first one on this host, then reload:\n\n"
            "```\nvoiceobs users add alice --role operator\n```\n\n"
            f"Users are kept in `{users_file()}` (set `VOICEOBS_USERS_FILE` to move it), "
            "or in `[users.NAME]` tables of Streamlit secrets; OIDC sign-in is enabled by an "
            "`[auth]` section in secrets."
        )
        return
    if sso:
        st.button("Sign in with single sign-on", on_click=st.login, type="primary")
    if users:
        with st.form("sign-in"):
            name = st.text_input("User name", key="signin_name")
            password = st.text_input("Password", type="password", key="signin_password")
            submitted = st.form_submit_button("Sign in", type="primary")
        if submitted:
            # Throttled per user name and per client, across sessions and processes
            # (voiceobs.signin): a locked-out attempt is refused even with the right password.
            result = sign_in(users, name, password, client_address())
            if result.user is None:
                st.error(result.message())
            else:
                st.session_state[SESSION_KEY] = User(name=result.user.name, role=result.user.role)
                st.session_state.pop(SIGNED_OUT_KEY, None)
                st.session_state[GRANT_KEY] = (session.new_grant(result.user.name), time.monotonic())
                st.rerun()
