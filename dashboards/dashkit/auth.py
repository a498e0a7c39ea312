"""Sign-in for the dashboard: a users file (scrypt hashes), Streamlit secrets, or OIDC.

Sign-in is required unless ``VOICEOBS_DASHBOARD_AUTH=none`` (``voiceobs
dashboard --no-auth``). Users come from the users file and from
``[users.NAME]`` tables in Streamlit secrets; when secrets configure
``[auth]``, an SSO button signs in through ``st.login`` and the email listed
under ``[roles] operators`` decides who may act on incidents.

Password sign-in is throttled per user name and per client address
(``voiceobs.signin``): the counts are shared by every session and every
dashboard process using the same data directory.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from voiceobs.config import resolve
from voiceobs.errors import VoiceObsError
from voiceobs.signin import sign_in
from voiceobs.users import User, load_users, parse_users, users_file

SESSION_KEY = "voiceobs_user"


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


def current_user() -> User | None:
    """Who is signed in to this browser session, if anyone."""
    if auth_disabled():
        return User(name="local", role="operator")
    user = st.session_state.get(SESSION_KEY)
    if isinstance(user, User):
        return user
    return _oidc_user()


def sign_out() -> None:
    """Forget the session's user (and end the OIDC session when there is one)."""
    st.session_state.pop(SESSION_KEY, None)
    if oidc_configured():
        try:
            if st.user.get("is_logged_in"):
                st.logout()
        except Exception:
            pass


def sign_in_page() -> None:
    """The only page shown before sign-in."""
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
                st.rerun()
