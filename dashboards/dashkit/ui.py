"""Widgets every page shares: the filter bar, auto-refresh, and the empty-store guide."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from dashkit import data
from voiceobs.store import redact_url
from voiceobs.store.analytics import Filters

ALL = "All"


@dataclass(frozen=True)
class Selection:
    """The filter bar's choices; turned into Filters at render time so 'now' stays fresh."""

    range_label: str
    probe: str | None
    target: str | None
    region: str | None

    def filters(self) -> Filters:
        """Filters for the chosen range ending now (snapped to the cache TTL)."""
        until = data.now_snapped()
        return Filters(
            since=until - data.RANGES[self.range_label],
            until=until,
            probe=self.probe,
            target=self.target,
            region=self.region,
        )


def filter_bar(key: str) -> Selection:
    """Time range, probe, target and region pickers in one row."""
    dims = data.run_query(data.dimensions, data.db_url())
    cols = st.columns([1.2, 1, 1.6, 1])
    labels = list(data.RANGES)
    range_label = cols[0].selectbox(
        "Time range", labels, index=labels.index(data.DEFAULT_RANGE), key=f"{key}_range"
    )
    probe = cols[1].selectbox("Probe", [ALL, *dims.probes], key=f"{key}_probe")
    target = cols[2].selectbox("Target", [ALL, *dims.targets], key=f"{key}_target")
    region = cols[3].selectbox("Region", [ALL, *dims.regions], key=f"{key}_region")
    return Selection(
        range_label=range_label,
        probe=None if probe == ALL else probe,
        target=None if target == ALL else target,
        region=None if region == ALL else region,
    )


def refreshing(body: Callable[[], None]) -> None:
    """Run ``body`` as a fragment that re-runs every refresh interval (when auto-refresh is on)."""
    every = st.session_state.get("refresh_every_s", 60)
    enabled = st.session_state.get("auto_refresh", True)
    st.fragment(body, run_every=every if enabled and every else None)()


def require_data() -> bool:
    """Show how to run the first probe when the store holds no runs; False then."""
    if data.run_query(data.latest_run_at, data.db_url()) is not None:
        return True
    first_probe_guide()
    return False


def first_probe_guide() -> None:
    """What an empty store shows instead of empty charts."""
    url = redact_url(data.db_url())
    st.info(
        "This store has no probe results yet. Run a first probe against it:\n\n"
        f"```\nvoiceobs db upgrade --db {url}\n"
        f"voiceobs probe run probes/<spec>.yaml --db {url}\n```\n\n"
        "Schedule it every few minutes with cron or a Kubernetes CronJob (examples in `probes/`), "
        "and record SLO evaluations with `voiceobs evaluate --slos probes/slos.yaml`. "
        "`voiceobs demo` runs the whole loop on this machine."
    )


def fmt_ms(value: float | None) -> str:
    """Milliseconds for a metric card; a dash when not measured."""
    return "–" if value is None else f"{value:,.0f} ms"


def fmt_pct(value: float | None, digits: int = 2) -> str:
    """A ratio as a percentage; a dash when unknown."""
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def rounded(df: pd.DataFrame, digits: int = 1) -> pd.DataFrame:
    """Round the numeric columns only (timestamps stay as they are)."""
    numeric = df.select_dtypes("number").columns
    return df.round(dict.fromkeys(numeric, digits))
