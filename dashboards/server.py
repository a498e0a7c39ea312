"""The dashboard's server: Streamlit's own, plus one route that sets the sign-in cookie.

``voiceobs dashboard`` runs ``streamlit run`` on this file. Streamlit finds
``app`` (an ``st.App``) and serves ``streamlit_app.py`` with it, on its own
Starlette/uvicorn server. The one addition is ``/_voiceobs/session``:

* ``POST`` with a grant (a one-minute, single-use token the script signed
  right after a password sign-in) sets ``voiceobs_session``, a signed,
  expiring, HttpOnly, SameSite=Strict cookie;
* ``GET`` clears it (sign out).

Why a route: a Streamlit script talks to the browser only over its
WebSocket, and a page script cannot write an HttpOnly cookie (that is the
point of HttpOnly), so only an HTTP response can set one. The script then
reads it back on every new session through ``st.context.cookies`` and checks
its signature and expiry (``dashkit/session.py``).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from types import FrameType

import streamlit as st
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dashkit import session
from dashkit.session_route import session_route


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    # By now uvicorn has shut the server and Streamlit's runtime down. Exit at once:
    # unwinding through asyncio.run would wait on idle worker threads, sometimes for good.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


# uvicorn stops gracefully on SIGTERM/SIGINT, then raises the signal again with the
# handlers it found at start; these make that second delivery a clean exit (status 0)
# rather than death by signal, so a service manager sees an orderly stop.
signal.signal(signal.SIGTERM, _exit_cleanly)
signal.signal(signal.SIGINT, _exit_cleanly)

app = st.App(
    "streamlit_app.py",
    routes=[Route(session.ROUTE, session_route, methods=["GET", "POST"])],
)
