"""Overview: every SLO, worst first, with its standing, alert state, burn-down and the open incidents.

Each SLO shows two different things (docs/architecture.md, "SLO standing and
alert state"): its **standing** over the whole window (met, at risk,
breached, no data) and its **alert state** (ok, ticket, page: how fast the
budget burns now). They are computed by ``voiceobs.slo.standing_of``, the
function ``voiceobs slo status`` and the gate use, from the figures of the
latest recorded evaluation. Above the SLOs, production and synthetic calls
stand side by side.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st
from dashkit import data, ui

from voiceobs.durations import parse_duration
from voiceobs.slo import standing_of

_SEVERITY = {"page": 0, "ticket": 1, "ok": 2}
_STANDING_RANK = {"breached": 0, "at_risk": 1, "met": 2, "no_data": 3}
_ALERT_BADGE = {
    "page": ":red-background[PAGE]",
    "ticket": ":orange-background[TICKET]",
    "ok": ":green-background[OK]",
}
_STANDING_BADGE = {
    "breached": ":red-background[BREACHED]",
    "at_risk": ":orange-background[AT RISK]",
    "met": ":green-background[MET]",
    "no_data": ":gray-background[NO DATA]",
}


def standing(e: dict[str, Any]) -> str:
    """The standing of a recorded evaluation, by the same rule the CLI and the gate use."""
    return standing_of(
        int(e.get("total") or 0), e.get("sli"), float(e["objective"]), e.get("budget_remaining")
    )


def _worst_first(evals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Paging or breached first, then ticket or at risk, then the rest; least budget first."""

    def key(e: dict[str, Any]) -> tuple[int, int, int, float, str]:
        budget = e.get("budget_remaining")
        alert = _SEVERITY.get(str(e.get("alert_state")), 3)
        stand = _STANDING_RANK[standing(e)]
        return (
            min(alert, stand),
            alert,
            stand,
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
    stand = standing(e)
    with st.container(border=True):
        head, sli_col, budget_col = st.columns([2, 1, 1])
        head.markdown(f"### {e['slo_name']}")
        head.markdown(
            f"Standing {_STANDING_BADGE[stand]} · Alert {_ALERT_BADGE.get(state, state)}",
            help="Standing: the SLO over its whole window (met, at risk: under 25% of the "
            "budget left, breached: below the objective, no data). Alert: how fast the budget "
            "burns right now (ok, ticket, page), from the multiwindow burn-rate alerts.",
        )
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


def _side_by_side(sel: ui.Selection) -> None:
    """Production and synthetic calls in range, in two columns (one when a source is chosen)."""
    rows = data.run_query(data.by_source, data.db_url(), sel.filters())
    st.subheader(f"Calls, {sel.range_label}")
    cols = st.columns(len(rows)) if len(rows) else []
    for col, row in zip(cols, rows.to_dict("records"), strict=True):
        src = str(row["source"])
        with col.container(border=True):
            st.markdown(f"**{src}** ({'real callers' if src == 'production' else 'probe calls'})")
            a, b = st.columns(2)
            a.metric(f"{src} calls", f"{int(row['runs']):,}")
            failed = int(row["failed_runs"])
            b.metric(f"{src} failed", f"{failed:,}")
            c, d = st.columns(2)
            c.metric(f"{src} p95 caller-heard", ui.fmt_ms(_num(row["turn_latency_ms_p95"])))
            d.metric(f"{src} p95 bot-reported", ui.fmt_ms(_num(row["reported_latency_ms_p95"])))


def _num(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


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
    breached = sum(1 for e in evals if standing(e) == "breached")
    c1, c2, c3, c4, c5 = st.columns(5)
    c1.metric("SLOs", len(evals))
    c2.metric("Breached", breached)
    c3.metric("Paging", paging)
    c4.metric("Ticket", ticket)
    c5.metric("Open incidents", len(open_incidents))
    _side_by_side(selection)
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
        st.caption(
            "Every SLO, whatever the source filter: each SLO's own selector picks its calls."
        )
        for e in evals:
            _slo_card(e, url)


st.title("Overview")
data.store()
selection = ui.range_source_bar("overview")
ui.refreshing(render)
