"""Widgets every page shares: the filter bar, auto-refresh, and the empty-store guide.

A page's state lives in its URL (``?range=24h&source=production&run=ID``):
every widget that matters starts from the URL and writes its choice back,
so a reload, a bookmark or a link pasted into the incident channel opens the
same view.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from dashkit import data
from voiceobs.store import redact_url
from voiceobs.store.analytics import Filters

ALL = "All"


#: What the Capacity page and the per-stage breakdown say when no stage spans reached the store.
NO_STAGE_SPANS = (
    "No pipeline stage spans (vad, asr, respond, tts, transport) in this range. They come from "
    "the bot's own OpenTelemetry traces, received by `voiceobs collect` (OTLP/HTTP on port "
    "4318):\n\n"
    "```\nvoiceobs collect --db STORE_URL\n"
    "voiceobs serve --otlp-endpoint http://127.0.0.1:4318   # the reference pipelines\n```\n\n"
    "For your own bot, point its OTLP exporter at `voiceobs collect` "
    "(`OTEL_EXPORTER_OTLP_ENDPOINT=http://COLLECT_HOST:4318`); the README's "
    "\"Monitor your production bots\" has the lines for Pipecat, LiveKit and others."
)

#: The source filter: probe calls, real callers' calls, or both.
SOURCES = ["all", "production", "synthetic"]


def from_url(param: str, options: list[str], default: str) -> int:
    """The index of the option the URL asks for (``?param=value``), else of the default.

    A widget takes this as its starting index, so a pasted link opens the page
    as it was shared; after that the widget's own state wins. Values that are
    not options are ignored, so a hand-edited link never breaks a page.
    """
    wanted = st.query_params.get(param)
    if wanted in options:
        return options.index(wanted)
    return options.index(default)


def to_url(param: str, value: str | None, default: str | None = None) -> None:
    """Keep ``?param=value`` in the URL (dropped when it is the default), so it can be shared."""
    if value is None or value == default or value == "":
        if param in st.query_params:
            del st.query_params[param]
    elif st.query_params.get(param) != value:
        st.query_params[param] = value


def url_select(
    label: str, options: list[str], *, param: str, key: str, default: str | None = None,
    container: Any = None, **kwargs: Any,
) -> str:
    """A selectbox whose choice lives in the URL as ``?param=...``."""
    default = options[0] if default is None else default
    where = container if container is not None else st
    value = where.selectbox(
        label, options, index=from_url(param, options, default), key=key, **kwargs
    )
    to_url(param, value, default)
    return str(value)


@dataclass(frozen=True)
class Selection:
    """The filter bar's choices; turned into Filters at render time so 'now' stays fresh."""

    range_label: str
    probe: str | None
    target: str | None
    region: str | None
    source: str | None = None

    def filters(self) -> Filters:
        """Filters for the chosen range ending now (snapped to the cache TTL)."""
        length = data.RANGES[self.range_label]
        until = data.now_snapped(length)
        return Filters(
            since=until - length,
            until=until,
            probe=self.probe,
            target=self.target,
            region=self.region,
            source=self.source,
        )


def source_select(key: str, container: Any = None) -> str | None:
    """The source filter (``?source=production|synthetic``); None means both."""
    chosen = url_select(
        "Source", SOURCES, param="source", key=f"{key}_source", default="all",
        container=container, help="production: real callers' calls; synthetic: probe calls",
    )  # fmt: skip
    return None if chosen == "all" else chosen


def _range_select(key: str, container: Any = None) -> str:
    labels = list(data.RANGES)
    by_code = {data.RANGE_CODES[label]: label for label in labels}
    code = url_select(
        "Time range", list(by_code), param="range", key=f"{key}_range",
        default=data.RANGE_CODES[data.DEFAULT_RANGE], container=container,
        format_func=by_code.__getitem__,
    )  # fmt: skip
    return by_code[code]


def range_source_bar(key: str) -> Selection:
    """Only the time range and the source (the Overview's filters)."""
    cols = st.columns([1.1, 1, 3.6])
    return Selection(
        range_label=_range_select(key, cols[0]),
        probe=None, target=None, region=None,
        source=source_select(key, cols[1]),
    )  # fmt: skip


def filter_bar(key: str) -> Selection:
    """Time range, source, probe, target and region pickers in one row, mirrored in the URL."""
    dims = data.run_query(data.dimensions, data.db_url())
    cols = st.columns([1.1, 1, 1, 1.6, 1])
    range_label = _range_select(key, cols[0])
    source = source_select(key, cols[1])
    probe = url_select("Probe", [ALL, *dims.probes], param="probe", key=f"{key}_probe",
                       container=cols[2])  # fmt: skip
    target = url_select("Target", [ALL, *dims.targets], param="target", key=f"{key}_target",
                        container=cols[3])  # fmt: skip
    region = url_select("Region", [ALL, *dims.regions], param="region", key=f"{key}_region",
                        container=cols[4])  # fmt: skip
    return Selection(
        range_label=range_label,
        probe=None if probe == ALL else probe,
        target=None if target == ALL else target,
        region=None if region == ALL else region,
        source=source,
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
