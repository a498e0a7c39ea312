"""Overview: every SLO, worst first, with its budget burn-down and the open incidents."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st
from dashkit import data, ui

from voiceobs.durations import parse_duration

_SEVERITY = {"page": 0, "ticket": 1, "ok": 2}
_BADGE = {"page": ":red-background[PAGE]", "ticket": ":orange-background[TICKET]"}


def _worst_first(evals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def key(e: dict[str, Any]) -> tuple[int, float, str]:
        budget = e.get("budget_remaining")
        return (
            _SEVERITY.get(str(e.get("alert_state")), 3),
            1e9 if budget is None else float(budget),
            str(e["slo_name"]),
        )

    return sorted(evals, key=key)


def _window(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except Exception:  # calendar windows ("month") and the unexpected: show 30 days
        return timedelta(days=30)


def _burn_table(burn_rates: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for window, rate in (burn_rates or {}).items():
        if isinstance(rate, dict):
            rows.append({"window": window, **rate})
        else:
            rows.append({"window": window, "burn rate": None if rate is None else float(rate)})
    return pd.DataFrame(rows)


def _slo_card(e: dict[str, Any], url: str) -> None:
    state = str(e.get("alert_state", "ok"))
    with st.container(border=True):
        head, sli_col, budget_col = st.columns([2, 1, 1])
        badge = _BADGE.get(state, ":green-background[OK]")
        head.markdown(f"### {badge} {e['slo_name']}")
        head.caption(f"window {e['window']} · evaluated {e['evaluated_at']:%Y-%m-%d %H:%M} UTC")
        sli_col.metric(
            "SLI / objective",
            ui.fmt_pct(e.get("sli"), 3),
            f"objective {ui.fmt_pct(e.get('objective'), 3)}",
            delta_color="off",
        )
        budget = e.get("budget_remaining")
        budget_col.metric("Error budget left", ui.fmt_pct(budget, 1))
        chart_col, burn_col = st.columns([2, 1])
        since = e["evaluated_at"] - _window(str(e["window"]))
        hist = data.run_query(data.budget_history, url, str(e["slo_name"]), since)
        if hist.empty:
            chart_col.caption("No budget history yet.")
        else:
            line = (
                alt.Chart(hist)
                .mark_line(point=len(hist) < 40)
                .encode(
                    x=alt.X("at:T", title=None),
                    y=alt.Y("budget_remaining:Q", title="budget left", axis=alt.Axis(format="%")),
                    tooltip=["at:T", alt.Tooltip("budget_remaining:Q", format=".1%")],
                )
            )
            zero = alt.Chart(pd.DataFrame({"y": [0.0]})).mark_rule(color="red").encode(y="y:Q")
            chart_col.altair_chart((line + zero).properties(height=160), width="stretch")
        burn = _burn_table(e.get("burn_rates") or {})
        if burn.empty:
            burn_col.caption("No burn rates recorded.")
        else:
            burn_col.dataframe(burn, hide_index=True, width="stretch")


def render() -> None:
    url = data.db_url()
    evals = data.run_query(data.latest_evaluations, url)
    open_incidents = data.run_query(data.incidents, url, True)
    if not evals:
        if not ui.require_data():
            return
        st.info(
            "No SLO evaluations recorded yet. Evaluate on a schedule with "
            "`voiceobs evaluate --slos probes/slos.yaml --hooks probes/hooks.yaml`, "
            "or once with `voiceobs slo status --slos probes/slos.yaml`."
        )
    evals = _worst_first(evals)
    paging = sum(1 for e in evals if e.get("alert_state") == "page")
    ticket = sum(1 for e in evals if e.get("alert_state") == "ticket")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("SLOs", len(evals))
    c2.metric("Paging", paging)
    c3.metric("Ticket", ticket)
    c4.metric("Open incidents", len(open_incidents))
    if open_incidents:
        st.subheader("Open incidents")
        st.dataframe(
            pd.DataFrame(open_incidents)[
                ["id", "slo_name", "severity", "state", "opened_at", "acknowledged_by", "summary"]
            ],
            hide_index=True,
            width="stretch",
        )
    if evals:
        st.subheader("SLOs, worst first")
        for e in evals:
            _slo_card(e, url)


st.title("Overview")
data.store()
ui.refreshing(render)
