"""Command, Python and pipeline-mode actions, and manual actions recorded with who did them."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from tests.failover.helpers import CALLS, firing, ok, write_hooks
from tests.helpers import receiver
from voiceobs.errors import VoiceObsError
from voiceobs.failover import acknowledge, load_hooks, process, resolve, trigger_hook
from voiceobs.store import Store

SCRIPT = """\
import json, os, sys
data = json.load(sys.stdin)
env = {k: v for k, v in os.environ.items() if k.startswith("VOICEOBS_") or k == "EXTRA"}
with open(sys.argv[1], "a") as fh:
    fh.write(json.dumps({"stdin": data, "env": env}) + "\\n")
"""


def test_command_gets_incident_as_json_on_stdin_and_env(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "calls.jsonl"
    script = tmp_path / "hook.py"
    script.write_text(SCRIPT)
    hooks = load_hooks(
        write_hooks(
            tmp_path / "hooks.yaml",
            f"""\
hooks:
  - name: script
    match: {{slo: "*"}}
    action: command
    argv: [{sys.executable}, {script}, {out}]
    env: {{EXTRA: "1"}}
""",
        )
    )
    report = process(store, [firing("agent-availability", region="eu")], hooks)
    assert [d.outcome for d in report.deliveries] == ["ok"]
    process(store, [ok("agent-availability", region="eu")], hooks)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 2
    first, second = lines
    inc_id = report.opened[0]
    assert first["stdin"]["incident_id"] == inc_id
    assert first["stdin"]["status"] == "firing"
    assert first["stdin"]["labels"]["region"] == "eu"
    assert first["stdin"]["sli"] == pytest.approx(0.9)
    assert first["env"]["VOICEOBS_INCIDENT_ID"] == str(inc_id)
    assert first["env"]["VOICEOBS_SLO"] == "agent-availability"
    assert first["env"]["VOICEOBS_SEVERITY"] == "page"
    assert first["env"]["VOICEOBS_STATUS"] == "firing"
    assert first["env"]["VOICEOBS_HOOK"] == "script"
    assert first["env"]["EXTRA"] == "1"
    assert (
        second["stdin"]["status"] == "resolved" and second["env"]["VOICEOBS_STATUS"] == "resolved"
    )
    assert second["stdin"]["ends_at"]


def test_missing_failing_and_hanging_commands_are_recorded_failures(
    store: Store, tmp_path: Path
) -> None:
    hooks = load_hooks(
        write_hooks(
            tmp_path / "hooks.yaml",
            f"""\
defaults: {{backoff: 10ms, retries: 1}}
hooks:
  - name: missing
    match: {{slo: "*"}}
    action: command
    argv: [/nonexistent/voiceobs-hook, --now]
  - name: exits-3
    match: {{slo: "*"}}
    action: command
    argv: [{sys.executable}, -c, "import sys; print('bad', file=sys.stderr); sys.exit(3)"]
  - name: hangs
    match: {{slo: "*"}}
    action: command
    argv: [{sys.executable}, -c, "import time; time.sleep(30)"]
    timeout: 300ms
    retries: 0
  - name: shell-words-are-not-a-shell
    match: {{slo: "*"}}
    action: command
    argv: ["echo hi; touch {tmp_path}/pwned"]
""",
        )
    )
    start = time.monotonic()
    report = process(store, [firing("x")], hooks)
    assert time.monotonic() - start < 10
    got = {d.hook: d for d in report.deliveries}
    assert got["missing"].outcome == "failed" and got["missing"].attempts == 1
    assert "command not found: /nonexistent/voiceobs-hook" in (got["missing"].error or "")
    assert got["exits-3"].outcome == "failed" and got["exits-3"].attempts == 2
    assert got["exits-3"].response_code == 3 and "bad" in (got["exits-3"].error or "")
    assert got["hangs"].outcome == "timeout"
    assert got["shell-words-are-not-a-shell"].outcome == "failed"
    assert not (tmp_path / "pwned").exists()
    audit = store.deliveries(report.opened[0])
    assert sorted((a.hook_name, a.attempt, a.outcome) for a in audit) == [
        ("exits-3", 1, "failed"),
        ("exits-3", 2, "failed"),
        ("hangs", 1, "timeout"),
        ("missing", 1, "failed"),
        ("shell-words-are-not-a-shell", 1, "failed"),
    ]


def test_python_entry_point_called_with_incident(store: Store, tmp_path: Path) -> None:
    CALLS.clear()
    hooks = load_hooks(
        write_hooks(
            tmp_path / "hooks.yaml",
            """\
defaults: {backoff: 10ms, retries: 1}
hooks:
  - name: py
    match: {slo: "*"}
    action: python
    entry_point: tests.failover.helpers:record_call
  - name: broken
    match: {slo: "*"}
    action: python
    entry_point: tests.failover.helpers:failing_call
""",
        )
    )
    report = process(store, [firing("agent-availability")], hooks)
    got = {d.hook: d for d in report.deliveries}
    assert got["py"].outcome == "ok" and got["py"].detail == {"returned": "noted"}
    assert got["broken"].outcome == "failed" and got["broken"].attempts == 2
    assert "RuntimeError: cannot handle agent-availability" in (got["broken"].error or "")
    assert [c["status"] for c in CALLS] == ["firing"]
    assert CALLS[0]["incident_id"] == report.opened[0]


def test_pipeline_mode_posts_mode_with_bearer_token(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_ADMIN_TOKEN", "tok-123")
    with receiver() as rx:
        hooks = load_hooks(
            write_hooks(
                tmp_path / "hooks.yaml",
                f"""\
hooks:
  - name: degrade
    match: {{slo: "*"}}
    action: pipeline_mode
    url: {rx.url}
    token_env: TEST_ADMIN_TOKEN
""",
            )
        )
        process(store, [firing("agent-availability")], hooks)
        process(store, [ok("agent-availability")], hooks)
        assert [r.path for r in rx.requests] == ["/admin/mode", "/admin/mode"]
        assert [r.json() for r in rx.requests] == [{"mode": "degraded"}, {"mode": "normal"}]
        assert {r.headers["authorization"] for r in rx.requests} == {"Bearer tok-123"}


def test_manual_actions_are_recorded_with_who_did_them(store: Store, tmp_path: Path) -> None:
    with receiver() as rx:
        hooks = load_hooks(
            write_hooks(
                tmp_path / "hooks.yaml",
                f"""\
hooks:
  - name: oncall
    match: {{slo: "*"}}
    action: webhook
    url: {rx.url}/auto
  - name: manual-only
    match: {{slo: nothing-matches-this}}
    action: webhook
    url: {rx.url}/manual
""",
            )
        )
        report = process(store, [firing("agent-availability")], hooks)
        inc_id = report.opened[0]
        assert acknowledge(store, inc_id, "alice", note="looking") is True
        d = trigger_hook(store, inc_id, hooks.get("manual-only"), "bob")
        assert d.outcome == "ok" and d.event == "manual"
        d2 = trigger_hook(store, inc_id, hooks.get("manual-only"), "bob", dry_run=True)
        assert d2.outcome == "dry_run"
        assert resolve(store, inc_id, "carol", note="fixed", hooks=hooks) is True
        assert resolve(store, inc_id, "carol") is False  # already resolved
        assert acknowledge(store, inc_id, "dave") is False  # no longer open
        # The resolved notification went out now, and the next pass does not repeat it.
        assert [r.path for r in rx.requests] == ["/auto", "/manual", "/auto"]
        assert rx.requests[2].json()["status"] == "resolved"
        # The SLO still burns: a pass opens a new incident rather than reviving the old one.
        again = process(store, [firing("agent-availability")], hooks)
        assert again.opened and again.opened[0] != inc_id
    inc = store.get_incident(inc_id)
    assert inc is not None
    assert inc.acknowledged_by == "alice" and inc.resolved_by == "carol"
    actions = [(a.action, a.actor, a.note) for a in store.incident_actions(inc_id)]
    assert actions == [
        ("acknowledge", "alice", "looking"),
        ("trigger_hook", "bob", "manual-only"),
        ("trigger_hook", "bob", "manual-only"),
        ("resolve", "carol", "fixed"),
    ]
    manual = [x for x in store.deliveries(inc_id) if x.event == "manual"]
    assert [(x.actor, x.outcome) for x in manual] == [("bob", "ok"), ("bob", "dry_run")]
    with pytest.raises(VoiceObsError, match="no incident 999999"):
        acknowledge(store, 999999, "alice")
