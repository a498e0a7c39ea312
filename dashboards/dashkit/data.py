"""Store access for the pages: one pooled store per URL, queries cached with a short TTL.

Every page asks the same few aggregate questions; caching them for
``CACHE_TTL_S`` lets many SREs watch one dashboard without each browser
re-running the SQL, and the time range is snapped to that TTL so a cached
answer is actually reused between refreshes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from voiceobs.config import Settings, resolve
from voiceobs.errors import VoiceObsError
from voiceobs.store import Store, analytics, redact_url
from voiceobs.store.analytics import Filters

CACHE_TTL_S = 30

RANGES: dict[str, timedelta] = {
    "last 1 hour": timedelta(hours=1),
    "last 6 hours": timedelta(hours=6),
    "last 24 hours": timedelta(hours=24),
    "last 7 days": timedelta(days=7),
    "last 30 days": timedelta(days=30),
}
DEFAULT_RANGE = "last 24 hours"


def db_url() -> str:
    """The store this dashboard shows (``voiceobs dashboard --db`` passes it by env)."""
    return Settings.load().db_url


@st.cache_resource(show_spinner=False)
def _open(url: str) -> Store:
    return Store.open(url)


def store() -> Store:
    """The store, or an error box naming the URL in use and a stop (never a traceback)."""
    url = db_url()
    try:
        return _open(url)
    except VoiceObsError as exc:
        store_error(exc, url)
        raise AssertionError("unreachable") from None


def store_error(exc: Exception, url: str | None = None) -> None:
    """Show why the store cannot be read, and which one, then stop the page."""
    shown = redact_url(url or db_url())
    st.error(f"Cannot read the store at `{shown}`.\n\n{exc}")
    st.caption("Start the dashboard with `voiceobs dashboard --db URL` or set VOICEOBS_DB_URL.")
    st.stop()


def now_snapped() -> datetime:
    """Now, rounded down to the cache TTL so repeated renders share cached answers."""
    now = datetime.now(UTC)
    return now - timedelta(seconds=now.timestamp() % CACHE_TTL_S, microseconds=now.microsecond)


def run_query(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a cached query; a store error becomes an error box, not a traceback."""
    try:
        return fn(*args, **kwargs)
    except VoiceObsError as exc:
        store_error(exc)


def clear_caches() -> None:
    """Forget cached answers after this session changed the store (an incident action)."""
    st.cache_data.clear()


# -- cached queries (arguments are the cache key; the URL keeps stores apart) -----------------


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def latest_run_at(url: str) -> datetime | None:
    return analytics.latest_run_at(_open(url))


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def dimensions(url: str) -> analytics.Dimensions:
    return analytics.dimensions(_open(url))


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def counts(url: str, f: Filters) -> dict[str, int]:
    return analytics.counts(_open(url), f)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def percentiles(url: str, f: Filters, measure: str, group_by: str) -> pd.DataFrame:
    rows = analytics.percentiles_over_time(_open(url), f, measure, group_by=group_by)
    return pd.DataFrame([r.__dict__ for r in rows])


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def stages(url: str, f: Filters) -> pd.DataFrame:
    return pd.DataFrame(analytics.stage_breakdown(_open(url), f))


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def stages_over_time(url: str, f: Filters) -> pd.DataFrame:
    return pd.DataFrame(analytics.stage_breakdown_over_time(_open(url), f))


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def quality(url: str, f: Filters, metrics: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame(analytics.quality_over_time(_open(url), f, metrics))


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def distribution(url: str, f: Filters, metric: str) -> pd.DataFrame:
    return pd.DataFrame(analytics.distribution(_open(url), f, metric))


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def flagged(
    url: str, f: Filters, thresholds: tuple[tuple[str, float], ...]
) -> tuple[int, pd.DataFrame]:
    total, rows = analytics.flagged_turns(_open(url), f, dict(thresholds))
    return total, pd.DataFrame(rows)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def runs(
    url: str, f: Filters, text: str, status: str | None, failure_class: str | None
) -> pd.DataFrame:
    found = analytics.search_runs(
        _open(url), f, text=text, status=status, failure_class=failure_class
    )
    return pd.DataFrame([r.__dict__ for r in found])


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def capacity(url: str, f: Filters, stage: str) -> analytics.CapacityFit:
    return analytics.capacity(_open(url), f, stage)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def budget_history(url: str, slo_name: str, since: datetime) -> pd.DataFrame:
    return pd.DataFrame(analytics.budget_history(_open(url), slo_name, since))


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def latest_evaluations(url: str) -> list[dict[str, Any]]:
    return [_row(e) for e in _open(url).latest_evaluations()]


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def incidents(url: str, open_only: bool) -> list[dict[str, Any]]:
    return [_row(i) for i in _open(url).list_incidents(open_only=open_only)]


def _row(obj: Any) -> dict[str, Any]:
    """A detached ORM row as a plain dict (cacheable, picklable)."""
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns}


def row(obj: Any) -> dict[str, Any]:
    """Public alias of the ORM-row-to-dict conversion, for pages."""
    return _row(obj)


def auth_env_note() -> str | None:
    """A warning to show when sign-in was switched off."""
    if str(resolve("dashboard_auth", None, "")).lower() in {"none", "off", "0"}:
        return "Sign-in is off (--no-auth): anyone who can reach this port is an operator."
    return None
