"""Capacity: each stage's latency against the driver of its cost, and where p95 breaks."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st
from dashkit import data, ui

from voiceobs.store.analytics import STAGE_DRIVERS

#: Starting p95 targets per stage (ms); an SRE changes them to their own budget.
DEFAULT_TARGETS = {"asr": 300.0, "respond": 800.0, "tts": 300.0, "vad": 50.0}
_UNITS = {
    "voice.audio_seconds": "audio seconds",
    "voice.output_chars": "output characters",
    "voice.context_tokens": "context tokens",
}


def render() -> None:
    url = data.db_url()
    f = selection.filters()
    fit = data.run_query(data.capacity, url, f, stage)
    unit = _UNITS[fit.driver]
    if fit.n == 0:
        st.info(f"No `{stage}` spans carrying `{fit.driver}` in this range.\n\n" + ui.NO_STAGE_SPANS)
        return
    crossing = fit.crossing_load(target)
    c1, c2, c3 = st.columns(3)
    c1.metric(
        "Spans",
        f"{fit.n:,}",
        None if fit.n >= fit.spans_in_range else f"newest of {fit.spans_in_range:,} in range",
        delta_color="off",
    )
    c2.metric(
        "Fit (all spans)",
        "–" if fit.slope is None else f"{fit.slope:,.2f} ms per {unit.rstrip('s')}",
        None if fit.r2 is None else f"R² {fit.r2:.2f}",
        delta_color="off",
    )
    if crossing is None:
        c3.metric(f"p95 crosses {target:.0f} ms at", "not within reach")
    elif crossing == 0:
        c3.metric(f"p95 crosses {target:.0f} ms at", "already crossed")
    else:
        c3.metric(f"p95 crosses {target:.0f} ms at", f"{crossing:,.1f} {unit}")
    bins = pd.DataFrame([b.__dict__ for b in fit.bins])
    bins["driver"] = (bins["driver_lo"] + bins["driver_hi"]) / 2
    points = bins.melt(id_vars=["driver", "count"], value_vars=["mean_ms", "p95_ms"],
                       var_name="statistic", value_name="ms")  # fmt: skip
    x_max = float(bins["driver_hi"].max())
    if crossing and crossing > 0:
        x_max = max(x_max, min(crossing * 1.1, x_max * 10))
    lines = []
    for name, slope, intercept in (("mean fit", fit.slope, fit.intercept),
                                   ("p95 fit", fit.p95_slope, fit.p95_intercept)):  # fmt: skip
        if slope is not None and intercept is not None:
            lines += [
                {"driver": x, "ms": intercept + slope * x, "line": name} for x in (0.0, x_max)
            ]
    base = (
        alt.Chart(points)
        .mark_circle(size=70)
        .encode(
            x=alt.X("driver:Q", title=unit),
            y=alt.Y("ms:Q", title=f"{stage} latency (ms)"),
            color=alt.Color("statistic:N", title=None),
            tooltip=["driver:Q", "statistic:N", alt.Tooltip("ms:Q", format=".1f"), "count:Q"],
        )
    )
    layers = base
    if lines:
        layers = layers + alt.Chart(pd.DataFrame(lines)).mark_line(strokeDash=[6, 3]).encode(
            x="driver:Q", y="ms:Q", color=alt.Color("line:N", title=None)
        )
    rule = alt.Chart(pd.DataFrame({"ms": [target]})).mark_rule(color="red").encode(y="ms:Q")
    st.altair_chart((layers + rule).properties(height=340), width="stretch")
    st.caption(
        "Points are spans binned by their cost driver (mean and p95 per bin); dashed lines are "
        "least-squares fits. The crossing is where the p95 fit reaches the target."
    )
    st.dataframe(ui.rounded(bins[["driver_lo", "driver_hi", "count", "mean_ms", "p95_ms"]], 2),
                 hide_index=True, width="stretch")  # fmt: skip


st.title("Capacity")
data.store()
if ui.require_data():
    selection = ui.filter_bar("capacity")
    s1, s2 = st.columns(2)
    stage = ui.url_select(
        "Stage", list(STAGE_DRIVERS), param="stage", key="capacity_stage", default="asr",
        container=s1, format_func=lambda s: f"{s} (by {_UNITS[STAGE_DRIVERS[s]]})",
    )  # fmt: skip
    target = float(
        s2.number_input(
            "p95 target (ms)", min_value=1.0, value=DEFAULT_TARGETS[stage], step=10.0,
            key=f"capacity_target_{stage}",
        )
    )  # fmt: skip
    ui.refreshing(render)
