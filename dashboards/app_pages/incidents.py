"""Incidents: open and past incidents, their hook deliveries, and operator actions.

Each action asks for confirmation and is recorded with the signed-in user's
name through voiceobs.failover, the same path `voiceobs incident` takes.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st
from dashkit import auth, data, ui

from voiceobs import failover
from voiceobs.config import resolve
from voiceobs.errors import VoiceObsError

PENDING = "incident_pending_action"


def _hooks() -> tuple[Any | None, str | None]:
    """The hooks file (VOICEOBS_HOOKS_FILE or hooks_file in config), or why there is none."""
    path = resolve("hooks_file", None, None)
    if not path:
        return None, "Set VOICEOBS_HOOKS_FILE to the hooks file to trigger hooks from here."
    try:
        return failover.load_hooks(str(path)), None
    except VoiceObsError as exc:
        return None, str(exc)


def _perform(action: str, incident_id: int, actor: str, hook_name: str | None) -> str:
    store = data.store()
    if action == "acknowledge":
        done = failover.acknowledge(store, incident_id, actor)
        return "Acknowledged." if done else "Not acknowledged: the incident is no longer open."
    if action == "resolve":
        hooks, _ = _hooks()
        done = failover.resolve(store, incident_id, actor, hooks=hooks)
        return "Resolved." if done else "Already resolved."
    hooks, problem = _hooks()
    if hooks is None or hook_name is None:
        return problem or "No hook chosen."
    delivery = failover.trigger_hook(store, incident_id, hooks.get(hook_name), actor)
    return f"Hook {hook_name} triggered: {getattr(delivery, 'outcome', delivery)}."


def _actions(inc: dict[str, Any], user: Any) -> None:
    if not user.is_operator:
        st.info(
            "You are signed in as a viewer: only operators can acknowledge, resolve or trigger hooks."
        )
        return
    iid = int(inc["id"])
    is_open = inc.get("resolved_at") is None
    hooks, problem = _hooks()
    c1, c2, c3, c4 = st.columns([1, 1, 1.5, 1])
    if c1.button(
        "Acknowledge",
        key=f"ack_{iid}",
        disabled=not is_open or inc.get("acknowledged_at") is not None,
    ):
        st.session_state[PENDING] = ("acknowledge", iid, None)
    if c2.button("Resolve", key=f"resolve_{iid}", disabled=not is_open):
        st.session_state[PENDING] = ("resolve", iid, None)
    names = [h.name for h in hooks.hooks] if hooks else []
    hook_name = c3.selectbox(
        "Hook", names, key=f"hook_{iid}", disabled=not names, label_visibility="collapsed"
    )
    if c4.button("Trigger hook", key=f"trigger_{iid}", disabled=not names):
        st.session_state[PENDING] = ("trigger", iid, hook_name)
    if not names and problem:
        st.caption(problem)
    pending = st.session_state.get(PENDING)
    if pending and pending[1] == iid:
        action, _, hook = pending
        what = f"trigger hook {hook} for" if action == "trigger" else action
        st.warning(f"Really {what} incident #{iid} ({inc['slo_name']}) as **{user.name}**?")
        y, n = st.columns([1, 6])
        if y.button("Confirm", key=f"confirm_{iid}", type="primary"):
            st.session_state.pop(PENDING, None)
            try:
                message = _perform(action, iid, user.name, hook)
            except VoiceObsError as exc:
                message = f"Failed: {exc}"
            data.clear_caches()
            st.session_state["incident_message"] = message
            st.rerun()
        if n.button("Cancel", key=f"cancel_{iid}"):
            st.session_state.pop(PENDING, None)
            st.rerun()


def _detail(inc: dict[str, Any], user: Any) -> None:
    store = data.store()
    st.subheader(f"#{inc['id']} {inc['slo_name']} ({inc['severity']}) · {inc['state']}")
    if inc.get("summary"):
        st.write(inc["summary"])
    c1, c2, c3 = st.columns(3)
    c1.metric("Opened", f"{inc['opened_at']:%Y-%m-%d %H:%M} UTC")
    c2.metric("Acknowledged by", inc.get("acknowledged_by") or "–")
    c3.metric("Resolved by", inc.get("resolved_by") or "–")
    _actions(inc, user)
    try:
        deliveries = [data.row(d) for d in store.deliveries(int(inc["id"]))]
        claims = [data.row(c) for c in store.hook_claims(int(inc["id"]))]
        actions = [data.row(a) for a in store.incident_actions(int(inc["id"]))]
    except VoiceObsError as exc:
        data.store_error(exc)
        return
    if claims:
        # Delivery is at least once: pending ones are retried by later passes until give-up.
        st.markdown("**Where each hook delivery stands**")
        st.dataframe(
            pd.DataFrame(claims)[
                [
                    "hook_name",
                    "event",
                    "state",
                    "attempts",
                    "next_attempt_at",
                    "give_up_at",
                    "last_error",
                    "idempotency_key",
                ]
            ],
            hide_index=True,
            width="stretch",
        )
    st.markdown("**Hook deliveries** (every attempt)")
    if deliveries:
        df = pd.DataFrame(deliveries)
        st.dataframe(
            df[
                [
                    "attempted_at",
                    "hook_name",
                    "action",
                    "event",
                    "attempt",
                    "outcome",
                    "response_code",
                    "error",
                    "duration_ms",
                    "actor",
                ]
            ],
            hide_index=True,
            width="stretch",
        )
    else:
        st.caption("No deliveries recorded.")
    st.markdown("**Actions by people**")
    if actions:
        st.dataframe(
            pd.DataFrame(actions)[["at", "action", "actor", "note"]],
            hide_index=True,
            width="stretch",
        )
    else:
        st.caption("No one has acted on this incident yet.")


st.title("Incidents")
data.store()
user = auth.current_user()
message = st.session_state.pop("incident_message", None)
if message:
    st.success(message)
show_all = st.toggle(
    "Include resolved incidents", value=st.query_params.get("open") != "1", key="incidents_all"
)
ui.to_url("open", None if show_all else "1")
source = ui.source_select("incidents")
rows = data.run_query(data.incidents, data.db_url(), not show_all)
if source is not None:
    # An incident belongs to a source when its SLO selects one (the ``source`` label);
    # an SLO over both sources concerns either.
    rows = [r for r in rows if (r.get("labels") or {}).get("source") in (None, source)]
if not rows:
    st.info(
        "No incidents. They open when an SLO alert fires during "
        "`voiceobs evaluate --slos ... --hooks ...` (cron) or `voiceobs watch`."
    )
else:
    table = pd.DataFrame(rows)
    st.dataframe(
        table[
            [
                "id",
                "slo_name",
                "severity",
                "state",
                "opened_at",
                "acknowledged_by",
                "resolved_at",
                "resolved_by",
            ]
        ],
        hide_index=True,
        width="stretch",
    )
    by_id = {int(r["id"]): r for r in rows}
    wanted = st.query_params.get("incident", "")
    ids = list(by_id)
    chosen = st.selectbox(
        "Incident",
        ids,
        index=ids.index(int(wanted)) if wanted.isdigit() and int(wanted) in by_id else 0,
        format_func=lambda i: (
            f"#{i} {by_id[i]['slo_name']} ({by_id[i]['severity']}, {by_id[i]['state']})"
        ),
        key="incident_id",
    )
    if chosen is not None:
        ui.to_url("incident", str(chosen))  # ``?incident=ID`` opens this incident
    if chosen is not None and user is not None:
        _detail(by_id[int(chosen)], user)
