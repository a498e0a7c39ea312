"""The voiceobs SRE dashboard: sign in, then six pages over one result store.

Start it with ``voiceobs dashboard [--db URL] [--port 8501]``. It reads the
store only through the voiceobs public API and never writes measurements;
the one thing it writes is an operator's action on an incident.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# The pages share helpers in dashkit/, next to this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dashkit import auth, data

from voiceobs.store import redact_url

st.set_page_config(page_title="voiceobs", page_icon=":material/graphic_eq:", layout="wide")

#: Every page: (file, title, icon). Its URL path is the file's name (``/calls``).
PAGES = [
    ("overview", "Overview", ":material/monitoring:"),
    ("latency", "Latency", ":material/timer:"),
    ("quality", "Quality", ":material/graphic_eq:"),
    ("calls", "Calls", ":material/call:"),
    ("incidents", "Incidents", ":material/warning:"),
    ("capacity", "Capacity", ":material/speed:"),
]

user = auth.current_user()
if user is None:
    # The sign-in form answers at every page's address, so a shared link
    # (``/calls?run=ID``) keeps its path and query through sign-in and opens
    # that page once the user is known.
    st.navigation(
        [st.Page(auth.sign_in_page, title="Sign in", default=True)]
        + [
            st.Page(auth.sign_in_page, title="Sign in", url_path=name)
            for name, _, _ in PAGES[1:]
        ],
        position="hidden",
    ).run()
    st.stop()

with st.sidebar:
    st.markdown(f"**{user.name}** · {user.role}")
    if not auth.auth_disabled():
        st.button("Sign out", on_click=auth.sign_out, key="sign_out")
    note = data.auth_env_note()
    if note:
        st.warning(note)
    st.caption(f"Store: `{redact_url(data.db_url())}`")
    st.toggle("Auto-refresh", value=True, key="auto_refresh")
    st.selectbox(
        "Refresh every",
        [15, 30, 60, 300],
        index=2,
        format_func=lambda s: f"{s} s" if s < 60 else f"{s // 60} min",
        key="refresh_every_s",
    )
    auth.keep_signed_in()  # right after sign-in: have the browser fetch the session cookie

pages = [
    st.Page(f"app_pages/{name}.py", title=title, icon=icon, default=name == "overview")
    for name, title, icon in PAGES
]
st.navigation(pages).run()
