"""Every dashboard page through Streamlit's AppTest, on a real seeded SQLite store."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from streamlit.testing.v1 import AppTest

from tests.dashboard.conftest import (
    APP,
    FAILED_RUN_ID,
    JOINED_HEARD_MS,
    JOINED_PRODUCTION_ID,
    JOINED_REPORTED_MS,
    JOINED_SYNTHETIC_ID,
    PRODUCTION_REPORTED_MS,
    SLOW_RUN_ID,
)
from voiceobs.store import Store
from voiceobs.users import User

PAGES = ["latency", "quality", "calls", "incidents", "capacity"]


def _app(url: str, monkeypatch: pytest.MonkeyPatch, user: User | None = None) -> AppTest:
    monkeypatch.setenv("VOICEOBS_DB_URL", url)
    at = AppTest.from_file(str(APP), default_timeout=60)
    if user is not None:
        at.session_state["voiceobs_user"] = user
    return at


def _open(at: AppTest, page: str) -> AppTest:
    at.run()
    if page != "overview":
        at.switch_page(f"app_pages/{page}.py")
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metric(at: AppTest, label: str) -> str:
    values = [m.value for m in at.metric if m.label == label]
    assert values, f"no metric {label!r} in {[m.label for m in at.metric]}"
    return str(values[0])


def _markdown(at: AppTest) -> str:
    return "\n".join(str(m.value) for m in at.markdown)


def _card_states(at: AppTest) -> dict[str, tuple[str, str]]:
    """Per SLO card on the Overview: (standing badge, alert badge) as the page wrote them."""
    out: dict[str, tuple[str, str]] = {}
    texts = [str(m.value) for m in at.markdown]
    for i, text in enumerate(texts):
        if text.startswith("### "):
            line = texts[i + 1]
            assert line.startswith("Standing "), line
            standing, alert = line.removeprefix("Standing ").split(" · Alert ")
            out[text.removeprefix("### ")] = (standing, alert)
    return out


def _frames_with(at: AppTest, *columns: str) -> list[pd.DataFrame]:
    return [d.value for d in at.dataframe if set(columns) <= set(d.value.columns)]


def _chart_specs(at: AppTest) -> list[tuple[dict[str, Any], list[pd.DataFrame]]]:
    """Every Vega-Lite chart on the page: its spec and its datasets as frames."""
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

    out = []
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        frames = [convert_arrow_bytes_to_pandas_df(d.data.data) for d in chart.proto.datasets]
        out.append((spec, frames))
    return out


OPERATOR = User("olivia", "operator")
VIEWER = User("victor", "viewer")


def test_first_run_explains_how_to_create_a_user(
    empty_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VOICEOBS_USERS_FILE", str(tmp_path / "none.toml"))
    at = _app(empty_url, monkeypatch)
    at.run()
    assert not at.exception
    warning = " ".join(str(w.value) for w in at.warning)
    assert "voiceobs users add" in warning
    assert str(tmp_path / "none.toml") in warning
    assert not at.text_input  # no form to sign in to when there is nobody


def test_sign_in_with_users_file(
    seeded_url: str, users_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app(seeded_url, monkeypatch)
    at.run()
    assert [t.value for t in at.title] == ["voiceobs"]
    at.text_input(key="signin_name").input("olivia")
    at.text_input(key="signin_password").input("wrong")
    at.button[0].click()
    at.run()
    assert "Wrong user name or password." in [e.value for e in at.error]
    at.text_input(key="signin_password").input("olivia-op-secret-1")
    at.button[0].click()
    at.run()
    assert not at.exception
    assert "Overview" in [t.value for t in at.title]
    assert "**olivia** · operator" in _markdown(at)


def test_sign_in_is_throttled_across_sessions(
    seeded_url: str, users_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import voiceobs.signin

    now = [1_800_000_000.0]
    monkeypatch.setattr(voiceobs.signin, "_wall", lambda: now[0])

    def attempt(at: AppTest, password: str) -> list[str]:
        at.text_input(key="signin_name").input("olivia")
        at.text_input(key="signin_password").input(password)
        at.button[0].click()
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return [str(e.value) for e in at.error]

    # A guesser spreads tries over fresh sessions (new browser tabs): the count follows the name.
    for i in range(3):
        at = _app(seeded_url, monkeypatch)
        at.run()
        assert attempt(at, f"guess-{i}")[0].startswith("Wrong user name or password.")
    at = _app(seeded_url, monkeypatch)
    at.run()
    [refused] = attempt(at, "olivia-op-secret-1")  # the right password, while locked out
    assert refused.startswith("Too many failed sign-ins for this user or from this address; try again in 2 s")
    assert "Overview" not in [t.value for t in at.title]
    now[0] += 2.0
    assert attempt(at, "olivia-op-secret-1") == []
    assert "Overview" in [t.value for t in at.title]


def test_overview_lists_worst_slo_first(seeded_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(_app(seeded_url, monkeypatch, OPERATOR), "overview")
    assert _metric(at, "SLOs") == "2"
    assert _metric(at, "Paging") == "1"
    assert _metric(at, "Open incidents") == "1"
    headings = [str(m.value) for m in at.markdown if str(m.value).startswith("### ")]
    assert headings[:2] == ["### latency-p95", "### availability"]
    states = _card_states(at)
    # latency-p95 ends at 99% - 23 * 0.1% = 96.7% against 99%: breached, and paging.
    assert states["latency-p95"] == (":red-background[BREACHED]", ":red-background[PAGE]")
    assert states["availability"] == (":green-background[MET]", ":green-background[OK]")
    assert _metric(at, "Breached") == "1"
    # budget left of the worst SLO: the last evaluation recorded 1 - 23 * 0.06
    assert _metric(at, "Error budget left") == f"{100 * (1 - 23 * 0.06):.1f}%"
    assert len(at.get("vega_lite_chart")) >= 2  # one burn-down per SLO


def test_latency_page(seeded_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(_app(seeded_url, monkeypatch, OPERATOR), "latency")
    assert _metric(at, "Calls") == "62"
    assert _metric(at, "Failed calls") == "1"
    assert _metric(at, "Turns") == "122"
    # percentile chart, the synthetic side's chart (no production calls here), stacked
    # stage bars, ttfb and connect
    assert len(at.get("vega_lite_chart")) == 5
    assert any("No production calls in this range" in str(c.value) for c in at.caption)
    stages = at.dataframe[1].value
    assert list(stages["stage"]) == ["vad", "asr", "respond", "tts", "transport"]
    assert (stages["count"] == 60).all()
    at.selectbox(key="latency_target").select("ws://127.0.0.1:8766/pcm").run()
    assert _metric(at, "Calls") == "31"


def test_quality_page_flags_bad_turns(seeded_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(_app(seeded_url, monkeypatch, OPERATOR), "quality")
    assert _metric(at, "Flagged turns") == "1"
    flagged = at.dataframe[0].value
    assert flagged.iloc[0]["below"] == "pesq_wb, stoi, wer"
    at.number_input(key="quality_threshold_pesq_wb").set_value(4.5).run()
    assert int(_metric(at, "Flagged turns").replace(",", "")) == 121  # every scored turn


def test_calls_page_opens_a_run_with_redacted_transcript_and_waterfall(
    seeded_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _open(_app(seeded_url, monkeypatch, OPERATOR), "calls")
    runs = at.dataframe[0].value
    assert len(runs) == 62
    assert runs.iloc[0]["id"] == SLOW_RUN_ID  # newest first
    at.selectbox(key="calls_run").select(SLOW_RUN_ID).run()
    text = _markdown(at)
    assert "Slowest stage: **asr** (900 ms" in text
    assert "[PHONE]" in text and "415 555 0134" not in text
    spans = at.dataframe[-1].value
    assert len(spans) == 8  # probe.run, call, turn + five stages
    at.text_input(key="calls_search").input("timeout").run()
    found = at.dataframe[0].value
    assert list(found["id"]) == [FAILED_RUN_ID]


def test_capacity_page_fits_and_finds_the_crossing(
    seeded_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _open(_app(seeded_url, monkeypatch, OPERATOR), "capacity")
    assert _metric(at, "Spans") == "60"
    crossing = _metric(at, "p95 crosses 300 ms at")
    assert crossing.endswith("audio seconds")
    at.selectbox(key="capacity_stage").select("tts").run()
    assert _metric(at, "Spans") == "60"
    fit = _metric(at, "Fit (all spans)")
    assert fit.startswith("0.5")  # seeded as 20 + 0.5 ms per character


@pytest.mark.parametrize("page", ["overview", *PAGES])
def test_empty_store_shows_how_to_run_the_first_probe(
    page: str, empty_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _open(_app(empty_url, monkeypatch, VIEWER), page)
    info = " ".join(str(i.value) for i in at.info)
    if page == "incidents":
        assert "No incidents" in info
    else:
        assert "voiceobs probe run" in info
        assert not at.get("vega_lite_chart")


@pytest.mark.parametrize("page", ["overview", *PAGES])
def test_unreachable_store_shows_error_and_url(page: str, monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql+psycopg://voiceobs:hunter2@127.0.0.1:1/voiceobs"
    at = _open(_app(url, monkeypatch, VIEWER), page)
    errors = " ".join(str(e.value) for e in at.error)
    assert (
        "Cannot read the store at `postgresql+psycopg://voiceobs:***@127.0.0.1:1/voiceobs`"
        in errors
    )
    assert "hunter2" not in errors


def test_viewer_cannot_act_on_incidents(seeded_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(_app(seeded_url, monkeypatch, VIEWER), "incidents")
    labels = [b.label for b in at.button]
    assert "Acknowledge" not in labels and "Resolve" not in labels
    assert any("only operators" in str(i.value) for i in at.info)


def _incident_ids(url: str) -> tuple[int, int]:
    store = Store.open(url)
    try:
        incidents = store.list_incidents()
        open_id = next(i.id for i in incidents if i.resolved_at is None)
        return open_id, len(store.incident_actions(open_id))
    finally:
        store.close()


def test_operator_acknowledges_then_resolves_with_confirmation(
    seeded_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    incident_id, before = _incident_ids(seeded_url)
    at = _open(_app(seeded_url, monkeypatch, OPERATOR), "incidents")
    at.button(key=f"ack_{incident_id}").click().run()
    assert any("Really acknowledge" in str(w.value) for w in at.warning)
    at.button(key=f"cancel_{incident_id}").click().run()
    store = Store.open(seeded_url)
    try:
        assert store.get_incident(incident_id).acknowledged_by is None  # type: ignore[union-attr]
        at.button(key=f"ack_{incident_id}").click().run()
        at.button(key=f"confirm_{incident_id}").click().run()
        assert not at.exception
        assert "Acknowledged." in [s.value for s in at.success]
        inc = store.get_incident(incident_id)
        assert inc is not None and inc.acknowledged_by == "olivia"
        at.button(key=f"resolve_{incident_id}").click().run()
        at.button(key=f"confirm_{incident_id}").click().run()
        inc = store.get_incident(incident_id)
        assert inc is not None and inc.resolved_by == "olivia" and inc.resolved_at is not None
        actions = store.incident_actions(incident_id)
        assert [(a.action, a.actor) for a in actions[before:]] == [
            ("acknowledge", "olivia"),
            ("resolve", "olivia"),
        ]
        assert _metric(at, "Resolved by") == "olivia"  # the page shows the new state at once
    finally:
        store.close()


def test_operator_triggers_a_hook(
    seeded_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    marker = tmp_path / "fired.json"
    hooks = tmp_path / "hooks.yaml"
    script = f"import sys, pathlib; pathlib.Path({str(marker)!r}).write_text(sys.stdin.read())"
    spec = {
        "version": "voiceobs/v1",
        "hooks": [
            {
                "name": "degrade",
                "action": "command",
                "match": {"slo": "*", "severity": ["page"]},
                "argv": [sys.executable, "-c", script],
            }
        ],
    }
    hooks.write_text(yaml.safe_dump(spec))
    monkeypatch.setenv("VOICEOBS_HOOKS_FILE", str(hooks))
    incident_id, _ = _incident_ids(seeded_url)
    at = _open(_app(seeded_url, monkeypatch, OPERATOR), "incidents")
    at.selectbox(key=f"hook_{incident_id}").select("degrade")
    at.button(key=f"trigger_{incident_id}").click().run()
    assert any("trigger hook degrade" in str(w.value) for w in at.warning)
    at.button(key=f"confirm_{incident_id}").click().run()
    assert not at.exception
    assert marker.exists() and "latency-p95" in marker.read_text()
    store = Store.open(seeded_url)
    try:
        manual = [d for d in store.deliveries(incident_id) if d.hook_name == "degrade"]
        assert manual and manual[-1].actor == "olivia"
        assert ("trigger_hook", "olivia") in [
            (a.action, a.actor) for a in store.incident_actions(incident_id)
        ]
    finally:
        store.close()


def test_incident_shows_where_each_hook_delivery_stands(
    seeded_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from voiceobs.results import utcnow

    store = Store.open(seeded_url)
    open_id = next(i.id for i in store.list_incidents() if i.resolved_at is None)
    lease = store.take_hook_lease(open_id, "pager", "firing", lease_seconds=30)
    assert lease is not None
    store.release_hook_lease(
        lease.claim.id, lease.token, attempts=3, next_attempt_at=utcnow(), error="HTTP 500: down"
    )
    store.close()
    at = _app(seeded_url, monkeypatch, VIEWER)
    at.session_state["incident_id"] = open_id
    _open(at, "incidents")
    frames = [d.value for d in at.dataframe]
    states = [f for f in frames if "idempotency_key" in f.columns]
    assert len(states) == 1, [list(f.columns) for f in frames]
    [row] = states[0].to_dict("records")
    assert (row["hook_name"], row["state"], row["attempts"]) == ("pager", "pending", 3)
    assert row["last_error"] == "HTTP 500: down"
    assert row["idempotency_key"] == lease.claim.idempotency_key


# -- standing and alert state --------------------------------------------------------------

#: Figures of one evaluation that give each standing (objective 99%, so the budget is 1%).
_STANDING_FIGURES: dict[str, dict[str, Any]] = {
    "met": {"good": 999, "total": 1000, "sli": 0.999, "budget_remaining": 0.9},
    "at_risk": {"good": 991, "total": 1000, "sli": 0.991, "budget_remaining": 0.1},
    "breached": {"good": 960, "total": 1000, "sli": 0.96, "budget_remaining": -3.0},
    "no_data": {"good": 0, "total": 0, "sli": None, "budget_remaining": None},
}
_STANDING_BADGES = {
    "met": ":green-background[MET]",
    "at_risk": ":orange-background[AT RISK]",
    "breached": ":red-background[BREACHED]",
    "no_data": ":gray-background[NO DATA]",
}
_ALERT_BADGES = {
    "ok": ":green-background[OK]",
    "ticket": ":orange-background[TICKET]",
    "page": ":red-background[PAGE]",
}


def test_overview_shows_standing_and_alert_state_apart_in_every_combination(
    seeded_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from voiceobs.slo import standing_of

    store = Store.open(seeded_url)
    try:
        for standing, figures in _STANDING_FIGURES.items():
            # The page must agree with the shared rule the CLI and the gate use.
            assert standing_of(figures["total"], figures["sli"], 0.99,
                               figures["budget_remaining"]) == standing  # fmt: skip
            for alert in _ALERT_BADGES:
                store.record_evaluation(
                    slo_name=f"{standing}-{alert}", window="30d", objective=0.99,
                    burn_rates={"1h": 1.0}, alert_state=alert, **figures,
                )  # fmt: skip
    finally:
        store.close()
    at = _open(_app(seeded_url, monkeypatch, OPERATOR), "overview")
    states = _card_states(at)
    for standing in _STANDING_FIGURES:
        for alert in _ALERT_BADGES:
            assert states[f"{standing}-{alert}"] == (
                _STANDING_BADGES[standing],
                _ALERT_BADGES[alert],
            ), f"{standing}-{alert}"
    order = list(states)
    # Breached or paging first; a recovered alert does not hide a breached SLO.
    assert order.index("breached-ok") < order.index("met-ticket")
    assert order.index("met-page") < order.index("at_risk-ok")
    assert order.index("met-ok") < order.index("no_data-ok")
    assert _metric(at, "Breached") == str(3 + 1)  # three breached-* plus latency-p95


# -- source filter, production beside synthetic, the joined call ---------------------------

_PRODUCTION_CALLS = len(PRODUCTION_REPORTED_MS) + 1  # plus the bot's side of the joined call
_SYNTHETIC_CALLS = 62 + 1  # seed_store's calls plus the probe's side of the joined call


def _nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    import math

    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def test_overview_shows_production_beside_synthetic(
    mixed_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _open(_app(mixed_url, monkeypatch, OPERATOR), "overview")
    assert _metric(at, "production calls") == str(_PRODUCTION_CALLS)
    assert _metric(at, "synthetic calls") == str(_SYNTHETIC_CALLS)
    reported = [ms for pair in PRODUCTION_REPORTED_MS for ms in pair] + list(JOINED_REPORTED_MS)
    assert _metric(at, "production p95 bot-reported") == f"{_nearest_rank(reported, 0.95):,.0f} ms"
    # Production turns carry no caller-side measure; the probe side of the join does.
    assert _metric(at, "production p95 caller-heard") == "–"
    at.selectbox(key="overview_source").select("production").run()
    labels = [m.label for m in at.metric]
    assert "production calls" in labels and "synthetic calls" not in labels
    assert at.query_params["source"] == "production"


def test_latency_shows_production_beside_synthetic(
    mixed_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _open(_app(mixed_url, monkeypatch, OPERATOR), "latency")
    assert _metric(at, "Calls") == str(_PRODUCTION_CALLS + _SYNTHETIC_CALLS)
    assert _metric(at, "production calls") == str(_PRODUCTION_CALLS)
    assert _metric(at, "synthetic calls") == str(_SYNTHETIC_CALLS)
    assert "Production beside synthetic" in [str(h.value) for h in at.subheader]
    # The production side charts what the bot reported: its turns carry no caller-heard figure.
    charted = [frames[0] for spec, frames in _chart_specs(at) if frames]
    groups = {str(g) for df in charted if "group" in df for g in df["group"].unique()}
    assert "all" in groups
    at.selectbox(key="latency_group").select("source").run()
    [main] = [f for s, f in _chart_specs(at)[:1]]
    assert set(main[0]["group"]) == {"synthetic"}  # caller-heard: only probes hear the call
    at.selectbox(key="latency_measure").select("reported_latency_ms").run()
    [main] = [f for s, f in _chart_specs(at)[:1]]
    assert set(main[0]["group"]) == {"production", "synthetic"}
    # The bot's figure reaches a probe turn only by the join: the joined call's two turns.
    synthetic = main[0][(main[0]["group"] == "synthetic") & (main[0]["percentile"] == "p50")]
    assert int(synthetic["count"].sum()) == len(JOINED_REPORTED_MS)


@pytest.mark.parametrize("page", ["overview", *PAGES])
def test_every_page_has_a_source_filter_read_from_the_url(
    page: str, mixed_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app(mixed_url, monkeypatch, OPERATOR)
    at.query_params["source"] = "production"
    _open(at, page)
    assert at.selectbox(key=f"{page}_source").value == "production"
    if page == "latency":
        assert _metric(at, "Calls") == str(_PRODUCTION_CALLS)
    if page == "calls":
        assert set(at.dataframe[0].value["source"]) == {"production"}
        assert len(at.dataframe[0].value) == _PRODUCTION_CALLS
    if page == "quality":
        assert _metric(at, "Flagged turns") == "0"  # the bot scores no audio
    at.selectbox(key=f"{page}_source").select("synthetic").run()
    assert at.query_params["source"] == "synthetic"
    if page == "calls":
        assert set(at.dataframe[0].value["source"]) == {"synthetic"}


@pytest.mark.parametrize("opened", [JOINED_SYNTHETIC_ID, JOINED_PRODUCTION_ID])
def test_calls_page_shows_a_joined_call_from_both_sides(
    opened: str, mixed_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app(mixed_url, monkeypatch, OPERATOR)
    at.query_params["run"] = opened
    _open(at, "calls")
    assert f"Run {opened}" in [str(h.value) for h in at.subheader]
    [joined] = _frames_with(at, "turn_latency_ms", "reported_latency_ms", "unseen_latency_ms",
                            "turn")  # fmt: skip
    assert list(joined["turn_latency_ms"]) == list(JOINED_HEARD_MS)
    assert list(joined["reported_latency_ms"]) == list(JOINED_REPORTED_MS)
    assert list(joined["unseen_latency_ms"]) == [
        h - r for h, r in zip(JOINED_HEARD_MS, JOINED_REPORTED_MS, strict=True)
    ]
    other = JOINED_PRODUCTION_ID if opened == JOINED_SYNTHETIC_ID else JOINED_SYNTHETIC_ID
    assert f"`{other}`" in _markdown(at)


def test_calls_page_shows_what_a_production_call_measured(
    mixed_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app(mixed_url, monkeypatch, OPERATOR)
    at.query_params["run"] = JOINED_PRODUCTION_ID
    _open(at, "calls")
    [turns] = _frames_with(at, "turn_index", "reported_latency_ms")
    assert "pesq_wb" not in turns.columns  # not measured on a bot's own record: not shown
    assert _metric(at, "Source") == "production"


# -- page state in the URL ------------------------------------------------------------------


def test_page_state_is_read_from_and_written_to_the_url(
    seeded_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app(seeded_url, monkeypatch, OPERATOR)
    for k, v in {"range": "7d", "target": "ws://127.0.0.1:8766/pcm", "run": FAILED_RUN_ID,
                 "status": "failed"}.items():  # fmt: skip
        at.query_params[k] = v
    _open(at, "calls")
    assert at.selectbox(key="calls_range").value == "7d"
    assert at.selectbox(key="calls_target").value == "ws://127.0.0.1:8766/pcm"
    assert at.selectbox(key="calls_status").value == "failed"
    assert f"Run {FAILED_RUN_ID}" in [str(h.value) for h in at.subheader]
    assert list(at.dataframe[0].value["id"]) == [FAILED_RUN_ID]
    at.selectbox(key="calls_range").select("1h").run()
    assert at.query_params["range"] == "1h"
    at.selectbox(key="calls_range").select("24h").run()  # the default leaves the URL
    assert "range" not in at.query_params
    # A value that is not an option (a hand-edited link) falls back to the default.
    at2 = _app(seeded_url, monkeypatch, OPERATOR)
    at2.query_params["range"] = "17y"
    _open(at2, "latency")
    assert at2.selectbox(key="latency_range").value == "24h"


def test_incident_id_in_the_url_opens_that_incident(
    seeded_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store.open(seeded_url)
    try:
        resolved = next(i.id for i in store.list_incidents() if i.resolved_at is not None)
    finally:
        store.close()
    at = _app(seeded_url, monkeypatch, VIEWER)
    at.query_params["incident"] = str(resolved)
    _open(at, "incidents")
    assert at.selectbox(key="incident_id").value == resolved
    assert any(str(h.value).startswith(f"#{resolved} availability") for h in at.subheader)


# -- charts fit the data --------------------------------------------------------------------


def test_latency_chart_is_lines_fitted_to_the_data_with_a_legend_per_encoding(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.dashboard.conftest import seed_store

    # Half an hour of calls in the default 24 h range: the case that drew three floating dots.
    store = Store.open(sqlite_url, create=True)
    try:
        seed_store(store, runs=30, minutes_apart=1)
    finally:
        store.close()
    at = _open(_app(sqlite_url, monkeypatch, OPERATOR), "latency")
    spec, frames = _chart_specs(at)[0]
    assert spec["mark"]["type"] == "line"
    assert spec["mark"]["point"] is False
    enc = spec["encoding"]
    assert enc["color"]["legend"]["title"] == "target · region"
    assert enc["strokeDash"]["legend"]["title"] == "percentile"
    buckets = frames[0]["bucket_start"].nunique()
    assert buckets >= 28, buckets  # 30 one-minute calls in one-minute buckets


def test_quality_chart_has_separate_legends_for_target_and_threshold(
    seeded_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _open(_app(seeded_url, monkeypatch, OPERATOR), "quality")
    spec, frames = _chart_specs(at)[0]
    line, rule = spec["layer"]
    assert line["mark"]["type"] == "line"
    assert line["encoding"]["color"]["legend"]["title"] == "target"
    assert rule["mark"]["type"] == "rule"
    assert rule["encoding"]["strokeDash"]["legend"]["title"] == "threshold"
    points = frames[0]["bucket_start"].nunique()
    assert points >= 30, points  # 12 h of data in 15-minute buckets


# -- empty stage pages say what to configure -------------------------------------------------


def test_capacity_and_stage_breakdown_say_what_to_configure_without_stage_spans(
    mixed_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for page in ("capacity", "latency"):
        at = _app(mixed_url, monkeypatch, OPERATOR)
        at.query_params["source"] = "production"  # the bot exported no stage spans here
        _open(at, page)
        info = " ".join(str(i.value) for i in at.info)
        assert "voiceobs serve --otlp-endpoint http://127.0.0.1:4318" in info, page
        assert "point its OTLP exporter at `voiceobs collect`" in info, page


def _dynamics_store(url: str) -> dict[float, list[float]]:
    """Barge-in calls and a noisy-caller sweep, as probes store them; WER per SNR sent."""
    from datetime import UTC, datetime, timedelta

    from voiceobs.results import RunResult, TurnResult

    now = datetime.now(UTC)
    store = Store.open(url, create=True)
    wer_by_snr = {20.0: [0.0, 0.1, 0.0], 10.0: [0.2, 0.3, 0.25], 5.0: [0.6, 0.9, 0.7]}
    try:
        for i in range(40):
            at = now - timedelta(minutes=2 * (40 - i))
            run = RunResult(probe_name="barge", target_url="ws://127.0.0.1:8765/twilio", started_at=at)
            run.turns = [
                TurnResult(0, turn_latency_ms=700.0 + i, started_at=at),
                TurnResult(1, kind="barge_in", barge_in_stop_ms=180.0 + 3 * i, clear_ms=90.0 + i,
                           started_at=at + timedelta(seconds=5)),
            ]  # fmt: skip
            store.save_run(run)
        for snr, wers in wer_by_snr.items():
            for j, wer in enumerate(wers):
                at = now - timedelta(minutes=10 + j)
                run = RunResult(probe_name="noisy", target_url="ws://127.0.0.1:8765/twilio", started_at=at)
                run.turns = [TurnResult(0, wer=wer, snr_db=snr, caller={"snr_db": snr},
                                        ok=wer < 0.5, started_at=at)]  # fmt: skip
                store.save_run(run)
    finally:
        store.close()
    return wer_by_snr


def test_latency_has_a_barge_in_panel_with_the_measured_percentiles(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _dynamics_store(sqlite_url)
    at = _open(_app(sqlite_url, monkeypatch, OPERATOR), "latency")
    assert "Barge-in: caller interrupts to the bot's last speech" in _markdown(at)
    # Charts hold their data long: one row per bucket and percentile (columns ms, count).
    long = [fr for _, frames in _chart_specs(at) for fr in frames if {"ms", "percentile"} <= set(fr.columns)]
    stops = [fr for fr in long if fr["ms"].between(180, 297).all() and fr["ms"].max() > 250]
    assert len(stops) == 1, "one chart of barge_in_stop_ms (180-297 ms)"
    p50 = stops[0][stops[0]["percentile"] == "p50"]
    assert p50["count"].sum() == 40  # every interruption counted once
    clears = [fr for fr in long if fr["ms"].between(90, 129).all() and fr["ms"].max() > 120]
    assert len(clears) == 1, "one chart of clear_ms (90-129 ms)"


def test_latency_says_how_to_measure_dynamics_when_none_were(
    seeded_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _open(_app(seeded_url, monkeypatch, OPERATOR), "latency")
    assert any("add a `barge_in:`" in str(c.value) for c in at.caption)


def test_quality_plots_wer_against_caller_snr(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    wer_by_snr = _dynamics_store(sqlite_url)
    at = _open(_app(sqlite_url, monkeypatch, OPERATOR), "quality")
    charts = [(spec, frames) for spec, frames in _chart_specs(at)
              if any("snr_db" in fr.columns for fr in frames)]  # fmt: skip
    assert len(charts) == 1
    spec, frames = charts[0]
    frame = next(fr for fr in frames if "snr_db" in fr.columns)
    wer = frame[frame["measure"] == "mean WER"].set_index("snr_db")["value"]
    for snr, wers in wer_by_snr.items():
        assert wer[snr] == pytest.approx(sum(wers) / len(wers))
    passed = frame[frame["measure"] == "turns passed"].set_index("snr_db")["value"]
    assert passed[5.0] == pytest.approx(0.0) and passed[20.0] == pytest.approx(1.0)
    assert spec["encoding"]["x"]["title"] == "caller SNR (dB)"
