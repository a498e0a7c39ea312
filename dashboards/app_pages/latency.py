"""Latency: what callers wait for, per target and region, and which stage it goes to."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st
from dashkit import data, ui

_MEASURES = {
    "turn_latency_ms": "Turn latency (voice to voice)",
    "ttfb_ms": "Time to first byte",
    "connect_ms": "Connect time",
    "path_delay_ms": "Path delay (loopback)",
}
_GROUPS = {"target_region": "target · region", "target": "target", "region": "region"}


def _percentile_chart(df: pd.DataFrame, height: int = 280) -> alt.Chart:
    long = df.melt(
        id_vars=["bucket_start", "group", "count"],
        value_vars=["p50", "p95", "p99"],
        var_name="percentile",
        value_name="ms",
    )
    return (
        alt.Chart(long)
        .mark_line(point=len(df) < 60)
        .encode(
            x=alt.X("bucket_start:T", title=None),
            y=alt.Y("ms:Q", title="ms"),
            color=alt.Color("group:N", title=None, legend=alt.Legend(orient="bottom")),
            strokeDash=alt.StrokeDash("percentile:N", sort=["p99", "p95", "p50"]),
            tooltip=[
                "bucket_start:T",
                "group:N",
                "percentile:N",
                alt.Tooltip("ms:Q", format=".0f"),
                "count:Q",
            ],
        )
        .properties(height=height)
    )


def render() -> None:
    url = data.db_url()
    f = selection.filters()
    c = data.run_query(data.counts, url, f)
    m1, m2, m3 = st.columns(3)
    m1.metric("Calls", f"{c['runs']:,}")
    m2.metric("Failed calls", f"{c['failed_runs']:,}")
    m3.metric("Turns", f"{c['turns']:,}")
    if c["turns"] == 0:
        st.info("No turns in this range and filter; widen the time range.")
        return
    st.subheader(f"{_MEASURES[measure]}: p50 / p95 / p99")
    pct = data.run_query(data.percentiles, url, f, measure, group_by)
    if pct.empty:
        st.caption(f"No {measure} measured in this range.")
    else:
        st.altair_chart(_percentile_chart(pct), width="stretch")
        last = pct.sort_values("bucket_start").groupby("group").tail(1)
        st.dataframe(
            ui.rounded(last[["group", "bucket_start", "count", "p50", "p95", "p99"]], 1),
            hide_index=True,
            width="stretch",
        )

    st.subheader("Where the time goes: pipeline stages")
    over_time = data.run_query(data.stages_over_time, url, f)
    if over_time.empty:
        st.caption(
            "No pipeline stage spans (vad, asr, respond, tts, transport) in this range: "
            "targets that export OpenTelemetry spans to the store show up here."
        )
    else:
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

    left, right = st.columns(2)
    for col, name in ((left, "ttfb_ms"), (right, "connect_ms")):
        if name == measure:
            continue
        df = data.run_query(data.percentiles, url, f, name, "all")
        col.markdown(f"**{_MEASURES[name]}**")
        if df.empty:
            col.caption("Not measured in this range.")
        else:
            col.altair_chart(_percentile_chart(df, 200), width="stretch")


st.title("Latency")
data.store()
if ui.require_data():
    selection = ui.filter_bar("latency")
    o1, o2 = st.columns(2)
    measure = o1.selectbox(
        "Measure", list(_MEASURES), format_func=_MEASURES.__getitem__, key="latency_measure"
    )
    group_by = o2.selectbox(
        "Lines per", list(_GROUPS), format_func=_GROUPS.__getitem__, key="latency_group"
    )
    ui.refreshing(render)
