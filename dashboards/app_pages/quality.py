"""Quality: how the audio sounded and whether it was understood, over time and as distributions.

Over-time charts are bucketed to the data in range and drawn as lines;
colour (the target) and the dashed flag threshold have separate legends.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st
from dashkit import data, ui

from voiceobs.store.analytics import DEFAULT_QUALITY_THRESHOLDS, QUALITY_METRICS

_LABELS = {
    "pesq_wb": "PESQ wide-band",
    "pesq_nb": "PESQ narrow-band",
    "stoi": "STOI",
    "estoi": "ESTOI",
    "dnsmos_ovrl": "DNSMOS overall",
    "dnsmos_sig": "DNSMOS signal",
    "dnsmos_bak": "DNSMOS background",
    "wer": "WER",
}


def quality_chart(sub: pd.DataFrame, metric: str, limit: float | None) -> alt.LayerChart | alt.Chart:
    """Mean per bucket and target as lines; the flag threshold as a dashed rule with its own legend."""
    per_series = int(sub.groupby("group")["bucket_start"].nunique().max()) if len(sub) else 0
    chart: alt.Chart | alt.LayerChart = (
        alt.Chart(sub)
        .mark_line(point=per_series <= 2, interpolate="monotone")
        .encode(
            x=alt.X("bucket_start:T", title=None),
            y=alt.Y(f"{metric}:Q", title=_LABELS[metric], scale=alt.Scale(zero=False)),
            color=alt.Color(
                "group:N", title="target", legend=alt.Legend(orient="bottom", title="target")
            ),
            tooltip=[
                "bucket_start:T",
                alt.Tooltip("group:N", title="target"),
                alt.Tooltip(f"{metric}:Q", format=".3f"),
            ],
        )
    )
    if limit is not None:
        better = "below" if QUALITY_METRICS[metric] else "above"
        rule = (
            alt.Chart(pd.DataFrame({"y": [limit], "line": [f"flagged {better} {limit:g}"]}))
            .mark_rule(color="red")
            .encode(
                y="y:Q",
                strokeDash=alt.StrokeDash(
                    "line:N",
                    scale=alt.Scale(range=[[4, 4]]),
                    legend=alt.Legend(orient="bottom", title="threshold", symbolStrokeColor="red"),
                ),
            )
        )
        chart = chart + rule
    return chart.properties(height=200)


def _by_snr(url: str, f: object) -> None:
    """WER (and intent success) against the SNR hard callers were sent at: where the bot stops understanding."""
    st.subheader("Understanding against caller noise (SNR)")
    df = data.run_query(data.quality_by_snr, url, f, ("wer",))
    if df.empty:
        st.caption(
            "No turns sent with noise in this range: give a probe spec a `caller: {snr_db: 10}` "
            "or a `sweep: {snr_db: [20, 10, 5]}` (README: Conversation dynamics)."
        )
        return
    df = df.assign(success=df["ok"] / df["turns"])
    long = df.melt(id_vars=["snr_db", "turns"], value_vars=["wer", "success"], var_name="measure")
    long["measure"] = long["measure"].map({"wer": "mean WER", "success": "turns passed"})
    chart = (
        alt.Chart(long.dropna())
        .mark_line(point=True)
        .encode(
            x=alt.X("snr_db:Q", title="caller SNR (dB)", scale=alt.Scale(reverse=True)),
            y=alt.Y("value:Q", title="share", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("measure:N", legend=alt.Legend(orient="bottom", title="measure")),
            tooltip=["snr_db:Q", "measure:N", alt.Tooltip("value:Q", format=".3f"), "turns:Q"],
        )
        .properties(height=220)
    )
    st.altair_chart(chart, width="stretch")


def render() -> None:
    url = data.db_url()
    f = selection.filters()
    # The headline number first; the charts below take longer on a wide range.
    total, flagged = data.run_query(data.flagged, url, f, tuple(sorted(thresholds.items())))
    st.metric("Flagged turns", f"{total:,}", help="Turns below a threshold (above, for WER)")
    bucket_s = data.run_query(data.bucket_seconds, url, f)
    df = data.run_query(data.quality, url, f, tuple(QUALITY_METRICS), bucket_s)
    if df.empty:
        st.info("No turns in this range and filter; widen the time range.")
        return
    st.subheader("Over time (mean per bucket, per target)")
    cols = st.columns(2)
    for i, metric in enumerate(chosen):
        sub = df[["bucket_start", "group", metric]].dropna()
        col = cols[i % 2]
        col.markdown(f"**{_LABELS[metric]}**")
        if sub.empty:
            col.caption("Not measured in this range.")
            continue
        col.altair_chart(quality_chart(sub, metric, thresholds.get(metric)), width="stretch")

    _by_snr(url, f)

    st.subheader("Distribution")
    dist_metric = st.selectbox(
        "Measure",
        chosen or list(QUALITY_METRICS),
        format_func=_LABELS.__getitem__,
        key="quality_dist",
    )
    hist = data.run_query(data.distribution, url, f, dist_metric)
    if hist.empty:
        st.caption("Not measured in this range.")
    else:
        st.altair_chart(
            alt.Chart(hist)
            .mark_bar()
            .encode(
                x=alt.X("lo:Q", bin="binned", title=dist_metric),
                x2="hi:Q",
                y=alt.Y("count:Q", title="turns"),
                tooltip=[
                    alt.Tooltip("lo:Q", format=".3f"),
                    alt.Tooltip("hi:Q", format=".3f"),
                    "count:Q",
                ],
            )
            .properties(height=220),
            width="stretch",
        )

    st.subheader("Turns below threshold")
    if total:
        shown = flagged[["started_at", "run_id", "turn", "probe", "target", "region", "below",
                         *[m for m in QUALITY_METRICS if m in thresholds]]]  # fmt: skip
        st.dataframe(ui.rounded(shown, 3), hide_index=True, width="stretch")
        st.caption("Open a run on the Calls page (search by run id) to hear what went wrong.")


st.title("Quality")
data.store()
if ui.require_data():
    selection = ui.filter_bar("quality")
    chosen = st.multiselect(
        "Metrics",
        list(QUALITY_METRICS),
        default=["pesq_wb", "stoi", "dnsmos_ovrl", "wer"],
        format_func=_LABELS.__getitem__,
        key="quality_metrics",
    )
    with st.expander("Thresholds (a turn is flagged below these; above, for WER)"):
        tcols = st.columns(len(DEFAULT_QUALITY_THRESHOLDS))
        thresholds = {
            m: float(
                tcols[i].number_input(
                    m, value=float(v), step=0.05, format="%.2f", key=f"quality_threshold_{m}"
                )
            )
            for i, (m, v) in enumerate(DEFAULT_QUALITY_THRESHOLDS.items())
        }
    ui.refreshing(render)
