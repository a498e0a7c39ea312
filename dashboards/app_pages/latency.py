"""Latency: what callers wait for, production beside synthetic, and which stage it goes to.

Charts are bucketed to the data actually in range (about 30 points), drawn
as lines, and every encoding has its own legend: colour is the group
(target, region or source), the dash is the percentile.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st
from dashkit import data, ui

_MEASURES = {
    "turn_latency_ms": "Turn latency, caller-heard (voice to voice)",
    "reported_latency_ms": "Turn latency, bot-reported",
    "unseen_latency_ms": "Unseen by the bot (caller-heard minus bot-reported)",
    "ttfb_ms": "Time to first byte",
    "connect_ms": "Connect time",
    "path_delay_ms": "Path delay (loopback)",
}
_GROUPS = {
    "target_region": "target · region",
    "target": "target",
    "region": "region",
    "source": "source",
}
_PERCENTILES = ["p99", "p95", "p50"]


def percentile_chart(df: pd.DataFrame, group_title: str, height: int = 280) -> alt.Chart:
    """p50/p95/p99 lines per group: colour is the group, dash the percentile, two legends."""
    long = df.melt(
        id_vars=["bucket_start", "group", "count"],
        value_vars=["p50", "p95", "p99"],
        var_name="percentile",
        value_name="ms",
    ).dropna(subset=["ms"])
    # A series of one or two buckets cannot be seen as a line; only then mark its points.
    per_series = int(df.groupby("group")["bucket_start"].nunique().max()) if len(df) else 0
    groups = int(df["group"].nunique()) if len(df) else 0
    return (
        alt.Chart(long)
        .mark_line(point=per_series <= 2, interpolate="monotone")
        .encode(
            x=alt.X("bucket_start:T", title=None),
            y=alt.Y("ms:Q", title="ms"),
            color=alt.Color(
                "group:N",
                title=group_title,
                # One line colour needs no key; the dash legend still names the percentiles.
                legend=alt.Legend(orient="bottom", title=group_title) if groups > 1 else None,
            ),
            strokeDash=alt.StrokeDash(
                "percentile:N",
                sort=_PERCENTILES,
                title="percentile",
                legend=alt.Legend(orient="bottom", title="percentile", symbolStrokeColor="gray"),
            ),
            tooltip=[
                "bucket_start:T",
                alt.Tooltip("group:N", title=group_title),
                "percentile:N",
                alt.Tooltip("ms:Q", format=".0f"),
                "count:Q",
            ],
        )
        .properties(height=height)
    )


def _num(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _side_by_side(url: str, f: Any, bucket_s: int) -> None:
    """Production and synthetic in two columns: headline figures, then each one's chart."""
    rows = data.run_query(data.by_source, url, f).to_dict("records")
    st.subheader("Production beside synthetic")
    cols = st.columns(len(rows))
    for col, row in zip(cols, rows, strict=True):
        src = str(row["source"])
        col.markdown(f"**{src}** ({'real callers' if src == 'production' else 'probe calls'})")
        a, b = col.columns(2)
        a.metric(f"{src} calls", f"{int(row['runs']):,}")
        b.metric(f"{src} failed", f"{int(row['failed_runs']):,}")
        c, d = col.columns(2)
        c.metric(f"{src} p95 caller-heard", ui.fmt_ms(_num(row["turn_latency_ms_p95"])))
        d.metric(f"{src} p95 bot-reported", ui.fmt_ms(_num(row["reported_latency_ms_p95"])))
        if not row["runs"]:
            if src == "production":
                col.caption(
                    "No production calls in this range. Point your bot's OTLP exporter at "
                    "`voiceobs collect` (README: Monitor your production bots)."
                )
            else:
                col.caption(
                    "No probe calls in this range: `voiceobs probe run probes/<spec>.yaml`."
                )
            continue
        # The bot's own figure is the measure a production call carries; probes hear the call.
        shown = measure
        heard = _num(row["turn_latency_ms_p95"])
        if src == "production" and measure == "turn_latency_ms" and heard is None:
            shown = "reported_latency_ms"
        one = replace(f, source=src)
        pct = data.run_query(data.percentiles, url, one, shown, "all", bucket_s)
        if pct.empty:
            col.caption(f"No {shown} measured on {src} calls in this range.")
        else:
            col.caption(_MEASURES[shown])
            col.altair_chart(percentile_chart(pct, "all", 200), width="stretch")


def _stages(url: str, f: Any, bucket_s: int) -> None:
    st.subheader("Where the time goes: pipeline stages")
    over_time = data.run_query(data.stages_over_time, url, f, bucket_s)
    if over_time.empty:
        st.info(ui.NO_STAGE_SPANS)
        return
    bars = (
        alt.Chart(over_time)
        .mark_bar()
        .encode(
            x=alt.X("bucket_start:T", title=None),
            y=alt.Y("mean_ms:Q", title="mean ms per turn", stack="zero"),
            color=alt.Color(
                "stage:N", sort=["vad", "asr", "respond", "tts", "transport"], title="stage"
            ),
            order=alt.Order("stage_order:Q"),
            tooltip=[
                "bucket_start:T",
                "stage:N",
                alt.Tooltip("mean_ms:Q", format=".1f"),
                "count:Q",
            ],
        )
        .transform_calculate(
            stage_order="indexof(['vad','asr','respond','tts','transport'], datum.stage)"
        )
        .properties(height=260)
    )
    st.altair_chart(bars, width="stretch")
    table = data.run_query(data.stages, url, f)
    st.dataframe(ui.rounded(table, 1), hide_index=True, width="stretch")


#: Conversation dynamics panels: what callers feel beyond the wait for an answer.
_DYNAMICS = {
    "barge_in_stop_ms": "Barge-in: caller interrupts to the bot's last speech",
    "clear_ms": "Barge-in: caller interrupts to the bot's Twilio clear",
    "greeting_ms": "Greeting: call start to the bot's first speech",
    "endpoint_wait_ms": "Endpointing: caller's end of speech to the bot's first audio",
}


def _dynamics(url: str, f: Any, bucket_s: int) -> None:
    """Barge-in, greeting and endpointing percentiles, where the probes measured them."""
    st.subheader("Conversation dynamics")
    # One count first: most ranges hold no barge-in or greeting, and four percentile
    # queries over every turn would then be spent on empty charts.
    present = data.run_query(data.measured, url, f, tuple(_DYNAMICS))
    frames = {
        m: data.run_query(data.percentiles, url, f, m, "all", bucket_s)
        if present[m]
        else pd.DataFrame()
        for m in _DYNAMICS
    }
    if not any(present.values()):
        st.caption(
            "No barge-in, greeting or endpointing measured in this range: add a `barge_in:` "
            "turn or a `greeting:` to a probe spec (README: Conversation dynamics)."
        )
        return
    cols = st.columns(2)
    for i, (name, df) in enumerate(frames.items()):
        col = cols[i % 2]
        col.markdown(f"**{_DYNAMICS[name]}**")
        if df.empty:
            col.caption("Not measured in this range.")
        else:
            col.altair_chart(percentile_chart(df, "all", 200), width="stretch")


def render() -> None:
    url = data.db_url()
    f = selection.filters()
    # Headline numbers first: Streamlit sends each element as soon as it is made,
    # so these show while the percentiles below are still being computed.
    c = data.run_query(data.counts, url, f)
    m1, m2, m3 = st.columns(3)
    m1.metric("Calls", f"{c['runs']:,}")
    m2.metric("Failed calls", f"{c['failed_runs']:,}")
    m3.metric("Turns", f"{c['turns']:,}")
    if c["turns"] == 0:
        st.info("No turns in this range and filter; widen the time range.")
        return
    bucket_s = data.run_query(data.bucket_seconds, url, f)
    st.subheader(f"{_MEASURES[measure]}: p50 / p95 / p99")
    pct = data.run_query(data.percentiles, url, f, measure, group_by, bucket_s)
    if pct.empty:
        st.caption(f"No {measure} measured in this range.")
    else:
        st.altair_chart(percentile_chart(pct, _GROUPS[group_by]), width="stretch")
        st.caption(f"{bucket_s // 60 if bucket_s >= 60 else bucket_s} "
                   f"{'min' if bucket_s >= 60 else 's'} buckets")  # fmt: skip
        last = pct.sort_values("bucket_start").groupby("group").tail(1)
        st.dataframe(
            ui.rounded(last[["group", "bucket_start", "count", "p50", "p95", "p99"]], 1),
            hide_index=True,
            width="stretch",
        )
    if selection.source is None:
        _side_by_side(url, f, bucket_s)
    _stages(url, f, bucket_s)
    _dynamics(url, f, bucket_s)

    left, right = st.columns(2)
    for col, name in ((left, "ttfb_ms"), (right, "connect_ms")):
        if name == measure:
            continue
        df = data.run_query(data.percentiles, url, f, name, "all", bucket_s)
        col.markdown(f"**{_MEASURES[name]}**")
        if df.empty:
            col.caption("Not measured in this range.")
        else:
            col.altair_chart(percentile_chart(df, "all", 200), width="stretch")


st.title("Latency")
data.store()
if ui.require_data():
    selection = ui.filter_bar("latency")
    o1, o2 = st.columns(2)
    measure = ui.url_select(
        "Measure", list(_MEASURES), param="measure", key="latency_measure",
        container=o1, format_func=_MEASURES.__getitem__,
    )  # fmt: skip
    group_by = ui.url_select(
        "Lines per", list(_GROUPS), param="by", key="latency_group",
        container=o2, format_func=_GROUPS.__getitem__,
    )  # fmt: skip
    ui.refreshing(render)
