"""Every dashboard page through Streamlit's AppTest, on a real seeded SQLite store."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from tests.dashboard.conftest import APP, FAILED_RUN_ID, SLOW_RUN_ID
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
    assert headings[0] == "### :red-background[PAGE] latency-p95"
    assert headings[1] == "### :green-background[OK] availability"
    # budget left of the worst SLO: the last evaluation recorded 1 - 23 * 0.06
    assert _metric(at, "Error budget left") == f"{100 * (1 - 23 * 0.06):.1f}%"
    assert len(at.get("vega_lite_chart")) >= 2  # one burn-down per SLO


def test_latency_page(seeded_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(_app(seeded_url, monkeypatch, OPERATOR), "latency")
    assert _metric(at, "Calls") == "62"
    assert _metric(at, "Failed calls") == "1"
    assert _metric(at, "Turns") == "122"
    # percentile chart, stacked stage bars, ttfb and connect
    assert len(at.get("vega_lite_chart")) == 4
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
