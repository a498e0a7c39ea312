"""Calls: find a call (probe or production), then its turns, both sides, transcript and waterfall.

A call seen from both sides (a probe calling a bot that exports its traces
to ``voiceobs collect``) shows, per turn, what the caller heard
(``turn_latency_ms``), what the bot reported (``reported_latency_ms``) and
the difference (``unseen_latency_ms``): the time the bot does not see. The
rows come from ``voiceobs.store.joins.joined_turns``, as in
``voiceobs calls show``. ``?run=ID`` in the URL opens a call.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import streamlit as st
from dashkit import data, ui

from voiceobs.redact import redact_text
from voiceobs.store.joins import joined_turns

_TURN_COLUMNS = [
    "turn_index", "ok", "failure_class", "connect_ms", "ttfb_ms", "turn_latency_ms",
    "reported_latency_ms", "unseen_latency_ms", "stt_ttfb_ms", "llm_ttfb_ms", "tts_ttfb_ms",
    "endpointing_delay_ms", "interruptions", "input_tokens", "output_tokens", "tts_characters",
    "path_delay_ms", "response_ms", "gap_p99_ms", "gaps_over_60ms", "pesq_wb", "pesq_nb",
    "stoi", "estoi", "dnsmos_ovrl", "wer", "intent", "flags",
]  # fmt: skip
#: Shown even when empty: a turn's identity and outcome.
_ALWAYS = {"turn_index", "ok", "failure_class"}


def _span_depths(spans: list[Any]) -> dict[str, int]:
    parents = {s.span_id: s.parent_span_id for s in spans}
    depths: dict[str, int] = {}
    for s in spans:
        depth, cur, seen = 0, s.parent_span_id, set()
        while cur and cur in parents and cur not in seen:
            seen.add(cur)
            depth += 1
            cur = parents[cur]
        depths[s.span_id] = depth
    return depths


def waterfall(spans: list[Any]) -> pd.DataFrame:
    """Spans as rows with start/end offsets in ms from the trace's first span."""
    if not spans:
        return pd.DataFrame()
    t0 = min(s.start_ns for s in spans)
    depths = _span_depths(spans)
    rows = []
    for i, s in enumerate(spans):
        label = f"{'  ' * depths[s.span_id]}{s.name}"
        rows.append(
            {
                "order": i,
                "span": f"{i:03d} {label}",
                "name": s.name,
                "service": s.service_name or "probe",
                "start_ms": (s.start_ns - t0) / 1e6,
                "end_ms": (s.end_ns - t0) / 1e6,
                "duration_ms": (s.end_ns - s.start_ns) / 1e6,
                "status": s.status_code,
                "attributes": ", ".join(f"{k}={v}" for k, v in sorted(s.attributes.items())),
            }
        )
    return pd.DataFrame(rows)


def joined_table(run: Any, other: Any) -> pd.DataFrame:
    """One row per turn: caller-heard, bot-reported, and the time the bot does not see."""
    rows = joined_turns(run, other)
    return pd.DataFrame(
        [
            {
                "turn": r["turn_index"] + 1,
                "turn_latency_ms": r["caller_heard_ms"],
                "reported_latency_ms": r["bot_reported_ms"],
                "unseen_latency_ms": r["unseen_ms"],
            }
            for r in rows
        ],
        columns=["turn", "turn_latency_ms", "reported_latency_ms", "unseen_latency_ms"],
    )


def _turns_frame(run: Any) -> pd.DataFrame:
    rows = []
    for t in run.turns:
        row = {c: getattr(t, c) for c in _TURN_COLUMNS}
        row["flags"] = "; ".join(f"{k}: {v}" for k, v in (t.flags or {}).items()) or None
        rows.append(row)
    turns = pd.DataFrame(rows, columns=_TURN_COLUMNS)
    # Probe and production calls measure different things: show only what was measured.
    keep = [c for c in _TURN_COLUMNS if c in _ALWAYS or turns[c].notna().any()]
    return turns[keep]


def run_detail(run_id: str) -> None:
    store = data.store()
    try:
        run = store.get_run(run_id)
        spans = store.spans_for_run(run_id) if run else []
        other = store.get_run(run.joined_run_id) if run and run.joined_run_id else None
    except Exception as exc:  # a store error is shown, not raised
        data.store_error(exc)
        return
    if run is None:
        st.warning(f"No call with id {run_id}.")
        return
    st.subheader(f"Run {run.id}")
    c1, c2, c3, c4, c5 = st.columns(5)
    c1.metric("Source", run.source)
    c2.metric("Status", run.status)
    c3.metric("Failure class", run.failure_class or "–")
    c4.metric("Turns", len(run.turns))
    c5.metric("Region", run.region or "–")
    who = (
        f"{run.framework or 'bot'} · {run.service or '?'} · {run.deployment or '–'}"
        if run.source == "production"
        else f"{run.probe_name} → {run.target_url} · {run.protocol or '?'}"
    )
    st.caption(
        f"{who} · started {run.started_at:%Y-%m-%d %H:%M:%S} UTC · host {run.probe_host or '?'} "
        f"· trace {run.trace_id or '–'}"
    )
    if run.failure_detail:
        st.error(redact_text(run.failure_detail))
    if other is not None:
        st.markdown(
            f"**Seen from both sides** (joined with {other.source} call `{other.id}`): "
            "caller-heard `turn_latency_ms`, bot-reported `reported_latency_ms`, and "
            "`unseen_latency_ms`, the time the bot does not see (transport, buffering, telephony)."
        )
        st.dataframe(ui.rounded(joined_table(run, other), 1), hide_index=True, width="stretch",
                     key="calls_joined")  # fmt: skip
        if st.button(f"Open the {other.source} side", key="calls_open_other"):
            st.query_params["run"] = other.id
            st.session_state.pop("calls_run", None)
            st.rerun()
    turns = _turns_frame(run)
    if not turns.empty:
        st.markdown("**Turns**")
        st.dataframe(ui.rounded(turns, 3), hide_index=True, width="stretch")
        st.markdown("**Transcript (redacted)**")
        for t in run.turns:
            said = redact_text(t.transcript) if t.transcript else "(no transcript)"
            expected = f" — expected: {redact_text(t.expected_text)}" if t.expected_text else ""
            st.markdown(f"- turn {t.turn_index}: {said}{expected}")
    st.markdown("**Trace waterfall** (probe and pipeline spans)")
    wf = waterfall(spans)
    if wf.empty:
        st.caption("No spans stored for this run.")
        return
    stages = wf[wf["name"].isin(["vad", "asr", "respond", "tts", "transport"])]
    if not stages.empty:
        top = stages.groupby("name")["duration_ms"].sum().sort_values(ascending=False)
        st.markdown(
            f"Slowest stage: **{top.index[0]}** ({top.iloc[0]:,.0f} ms of "
            f"{top.sum():,.0f} ms in pipeline stages)"
        )
    chart = (
        alt.Chart(wf)
        .mark_bar()
        .encode(
            x=alt.X("start_ms:Q", title="ms from trace start"),
            x2="end_ms:Q",
            y=alt.Y(
                "span:N", sort=alt.SortField("order"), title=None, axis=alt.Axis(labelOverlap=False)
            ),
            color=alt.Color("service:N", title="service"),
            tooltip=[
                "name:N",
                "service:N",
                alt.Tooltip("duration_ms:Q", format=".1f"),
                "attributes:N",
            ],
        )
        .properties(height=max(120, 30 * len(wf)))
    )
    st.altair_chart(chart, width="stretch")
    st.dataframe(
        ui.rounded(wf[["span", "service", "start_ms", "duration_ms", "status", "attributes"]], 1),
        hide_index=True,
        width="stretch",
    )


def render() -> None:
    url = data.db_url()
    f = selection.filters()
    runs = data.run_query(data.runs, url, f, search, status, failure_class)
    st.caption(f"{len(runs)} calls shown (newest first, at most 200)")
    if runs.empty:
        st.info("No calls match; widen the time range or clear the search.")
        return
    shown = runs[["started_at", "id", "source", "probe_name", "target_url", "region", "status",
                  "failure_class", "turns", "latency_max_ms", "reported_max_ms", "pesq_wb_min",
                  "stoi_min", "wer_max", "joined_run_id"]]  # fmt: skip
    st.dataframe(ui.rounded(shown, 3), hide_index=True, width="stretch")


st.title("Calls")
data.store()
if ui.require_data():
    selection = ui.filter_bar("calls")
    s1, s2, s3 = st.columns([2, 1, 1])
    search = s1.text_input(
        "Search", value=st.query_params.get("q", ""), key="calls_search",
        placeholder="run id, probe, target, failure class or detail",
    )  # fmt: skip
    ui.to_url("q", search.strip())
    status_choice = ui.url_select(
        "Status", [ui.ALL, "ok", "failed"], param="status", key="calls_status", container=s2
    )
    status = None if status_choice == ui.ALL else status_choice
    failure_choice = ui.url_select(
        "Failure class",
        [ui.ALL, "connect_error", "protocol_error", "timeout", "no_audio", "truncated",
         "quality_error", "internal_error"],
        param="failure", key="calls_failure", container=s3,
    )  # fmt: skip
    failure_class = None if failure_choice == ui.ALL else failure_choice
    ui.refreshing(render)
    st.divider()
    listed = data.run_query(
        data.runs, data.db_url(), selection.filters(), search, status, failure_class
    )
    options = [] if listed.empty else list(listed["id"])
    # The URL opens a call when the page is opened (a shared link); after that the
    # picker decides, so a search opens what it found.
    wanted = "" if "calls_run" in st.session_state else st.query_params.get("run", "")
    if wanted and wanted not in options:
        options.insert(0, wanted)  # a shared link opens its call whatever the filters show
    if options:
        labels = {} if listed.empty else dict(
            zip(
                listed["id"],
                [f"{t:%m-%d %H:%M:%S} · {src} · {p} · {s}" for t, src, p, s in
                 zip(listed["started_at"], listed["source"], listed["probe_name"],
                     listed["status"], strict=True)],
                strict=True,
            )
        )  # fmt: skip
        chosen = st.selectbox(
            "Open a run",
            options,
            index=options.index(wanted) if wanted in options else 0,
            format_func=lambda i: f"{labels.get(i, '')} · {i}",
            key="calls_run",
        )
        if chosen:
            ui.to_url("run", chosen)
            run_detail(chosen)
