"""Store access for the pages: one pooled store per URL, queries cached per query and time bucket.

Every page asks the same few aggregate questions. Each cached function is
keyed on its arguments: the store URL, the query (measure, grouping,
filters) and the time range, whose end is snapped to a step that grows with
the range (30 s for the last hour or day, 5 min for 7 days, 15 min for 30
days). Many SREs watching one dashboard, or one SRE switching pages, then
share one answer per query and step instead of each re-running the SQL;
a wide range, which is slow to aggregate, is recomputed less often.
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
#: How a range is written in the page's URL (``?range=7d``).
RANGE_CODES: dict[str, str] = {
    "last 1 hour": "1h",
    "last 6 hours": "6h",
    "last 24 hours": "24h",
    "last 7 days": "7d",
    "last 30 days": "30d",
}


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


#: The longest a cached range answer may be reused (the snap step of the widest range).
RANGE_CACHE_TTL_S = 900


def snap_step_s(length: timedelta) -> int:
    """How far the end of a range of ``length`` is snapped: ~1/2000 of it, 30 s to 15 min."""
    return int(min(RANGE_CACHE_TTL_S, max(CACHE_TTL_S, length.total_seconds() // 2000 // 30 * 30)))


def now_snapped(length: timedelta | None = None) -> datetime:
    """Now, rounded down to the range's snap step so repeated renders share cached answers."""
    step = CACHE_TTL_S if length is None else snap_step_s(length)
    # Whole seconds first: a fraction left in would make every call a new cache key.
    return datetime.fromtimestamp(int(datetime.now(UTC).timestamp()) // step * step, UTC)


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

# Range queries: keyed on the snapped range, so they may live as long as the widest snap step.
_range_cache = st.cache_data(ttl=RANGE_CACHE_TTL_S, max_entries=512, show_spinner=False)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def latest_run_at(url: str) -> datetime | None:
    return analytics.latest_run_at(_open(url))


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def dimensions(url: str) -> analytics.Dimensions:
    return analytics.dimensions(_open(url))


@_range_cache
def counts(url: str, f: Filters) -> dict[str, int]:
    return analytics.counts(_open(url), f)


@_range_cache
def by_source(url: str, f: Filters) -> pd.DataFrame:
    return pd.DataFrame(analytics.by_source(_open(url), f))


@_range_cache
def bucket_seconds(url: str, f: Filters) -> int:
    """The charts' bucket size, fitted to the turns actually in range (about 30 points)."""
    return analytics.chart_bucket_seconds(_open(url), f)


@_range_cache
def percentiles(
    url: str, f: Filters, measure: str, group_by: str, bucket_s: int | None = None
) -> pd.DataFrame:
    rows = analytics.percentiles_over_time(
        _open(url), f, measure, group_by=group_by, bucket_s=bucket_s
    )
    return pd.DataFrame([r.__dict__ for r in rows])


@_range_cache
def stages(url: str, f: Filters) -> pd.DataFrame:
    return pd.DataFrame(analytics.stage_breakdown(_open(url), f))


@_range_cache
def stages_over_time(url: str, f: Filters, bucket_s: int | None = None) -> pd.DataFrame:
    return pd.DataFrame(analytics.stage_breakdown_over_time(_open(url), f, bucket_s=bucket_s))


@_range_cache
def quality(
    url: str, f: Filters, metrics: tuple[str, ...], bucket_s: int | None = None
) -> pd.DataFrame:
    return pd.DataFrame(analytics.quality_over_time(_open(url), f, metrics, bucket_s=bucket_s))


@_range_cache
def measured(url: str, f: Filters, measures: tuple[str, ...]) -> dict[str, int]:
    return analytics.measured(_open(url), f, measures)


@_range_cache
def quality_by_snr(url: str, f: Filters, metrics: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame(analytics.quality_by_snr(_open(url), f, metrics))


@_range_cache
def distribution(url: str, f: Filters, metric: str) -> pd.DataFrame:
    return pd.DataFrame(analytics.distribution(_open(url), f, metric))


@_range_cache
def flagged(
    url: str, f: Filters, thresholds: tuple[tuple[str, float], ...]
) -> tuple[int, pd.DataFrame]:
    total, rows = analytics.flagged_turns(_open(url), f, dict(thresholds))
    return total, pd.DataFrame(rows)


@_range_cache
def runs(
    url: str, f: Filters, text: str, status: str | None, failure_class: str | None
) -> pd.DataFrame:
    found = analytics.search_runs(
        _open(url), f, text=text, status=status, failure_class=failure_class
    )
    return pd.DataFrame([r.__dict__ for r in found])


@_range_cache
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
