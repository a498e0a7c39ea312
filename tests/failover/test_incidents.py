"""Incident lifecycle against a real webhook receiver on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path

import pytest

from tests.failover.helpers import firing, ok, write_hooks
from tests.helpers import free_port, receiver
from voiceobs.failover import load_hooks, process
from voiceobs.failover.payload import ZERO_TIME, fingerprint
from voiceobs.store import Store

SECRET = "s3cret-for-tests"


def _webhook_hooks(tmp_path: Path, url: str, extra: str = "") -> Path:
    return write_hooks(
        tmp_path / "hooks.yaml",
        f"""\
external_url: http://dash.test
hooks:
  - name: oncall
    match: {{slo: agent-availability}}
    action: webhook
    url: {url}/alert
    secret_env: TEST_HOOK_SECRET
    backoff: 50ms
{extra}""",
    )


def _check_signature(headers: dict[str, str], body: bytes) -> None:
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-voiceobs-signature"] == expected


def test_one_firing_and_one_resolved_notification_with_valid_payload(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_HOOK_SECRET", SECRET)
    with receiver() as rx:
        hooks = load_hooks(_webhook_hooks(tmp_path, rx.url))
        burning = [firing("agent-availability", probe="agent-smoke", region="eu"), ok("other")]

        first = process(store, burning, hooks)
        assert len(first.opened) == 1 and [d.outcome for d in first.deliveries] == ["ok"]
        # Later passes while the alert keeps firing deliver nothing new.
        again = process(store, burning, hooks)
        assert again.opened == [] and again.deliveries == [] and again.skipped == 1
        assert len(rx.requests) == 1

        req = rx.requests[0]
        assert req.path == "/alert"
        _check_signature(req.headers, req.body)
        body = req.json()
        assert body["version"] == "4"
        assert body["status"] == "firing"
        assert body["receiver"] == "oncall"
        assert body["externalURL"] == "http://dash.test"
        assert body["truncatedAlerts"] == 0
        assert body["groupLabels"] == {
            "alertname": "VoiceobsSLOBurn",
            "severity": "page",
            "slo": "agent-availability",
        }
        assert body["groupKey"] == (
            '{}:{alertname="VoiceobsSLOBurn", severity="page", slo="agent-availability"}'
        )
        [alert] = body["alerts"]
        assert alert["status"] == "firing"
        assert alert["labels"] == {
            "alertname": "VoiceobsSLOBurn",
            "slo": "agent-availability",
            "severity": "page",
            "probe": "agent-smoke",
            "region": "eu",
        }
        assert body["commonLabels"] == alert["labels"]
        assert "agent-availability" in alert["annotations"]["summary"]
        assert "SLI 90%" in alert["annotations"]["description"]
        assert "20.00x" in alert["annotations"]["description"]
        assert body["commonAnnotations"] == alert["annotations"]
        assert alert["endsAt"] == ZERO_TIME
        assert alert["startsAt"].endswith("Z")
        assert alert["fingerprint"] == fingerprint(alert["labels"])
        incident_id = first.opened[0]
        assert alert["generatorURL"] == f"http://dash.test/?incident={incident_id}"

        recovered = [ok("agent-availability", probe="agent-smoke", region="eu"), ok("other")]
        done = process(store, recovered, hooks)
        assert done.resolved == [incident_id]
        assert [(d.event, d.outcome) for d in done.deliveries] == [("resolved", "ok")]
        assert process(store, recovered, hooks).deliveries == []
        assert len(rx.requests) == 2

        resolved = rx.requests[1]
        _check_signature(resolved.headers, resolved.body)
        rbody = resolved.json()
        assert rbody["status"] == "resolved"
        [ralert] = rbody["alerts"]
        assert ralert["status"] == "resolved"
        assert ralert["endsAt"] != ZERO_TIME and ralert["endsAt"] >= ralert["startsAt"]
        assert ralert["fingerprint"] == alert["fingerprint"]
        assert ralert["startsAt"] == alert["startsAt"]

    inc = store.get_incident(incident_id)
    assert inc is not None and inc.state == "resolved" and inc.resolved_by
    audit = store.deliveries(incident_id)
    assert [(d.hook_name, d.event, d.outcome, d.response_code) for d in audit] == [
        ("oncall", "firing", "ok", 200),
        ("oncall", "resolved", "ok", 200),
    ]
    assert all(d.duration_ms is not None and d.duration_ms >= 0 for d in audit)


def test_500_then_200_is_retried_with_backoff_and_every_attempt_recorded(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_HOOK_SECRET", SECRET)
    with receiver(codes=[500, 503]) as rx:
        hooks = load_hooks(_webhook_hooks(tmp_path, rx.url, "    retries: 3\n"))
        start = time.monotonic()
        report = process(store, [firing("agent-availability")], hooks)
        elapsed = time.monotonic() - start
    [d] = report.deliveries
    assert d.outcome == "ok" and d.attempts == 3
    assert len(rx.requests) == 3
    assert elapsed >= 0.05 + 0.1  # backoff 50 ms then 100 ms
    audit = store.deliveries(report.opened[0])
    assert [(a.attempt, a.outcome, a.response_code) for a in audit] == [
        (1, "failed", 500),
        (2, "failed", 503),
        (3, "ok", 200),
    ]
    assert "HTTP 500" in (audit[0].error or "")


def test_slow_target_times_out_is_retried_and_does_not_hold_up_other_hooks(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_HOOK_SECRET", SECRET)
    dead = f"http://127.0.0.1:{free_port()}"
    with receiver(delay=2.0) as slow, receiver() as fast:
        hooks = load_hooks(
            write_hooks(
                tmp_path / "hooks.yaml",
                f"""\
defaults: {{backoff: 10ms}}
hooks:
  - name: slow
    match: {{slo: "*"}}
    action: webhook
    url: {slow.url}
    timeout: 300ms
    retries: 1
  - name: down
    match: {{slo: "*"}}
    action: webhook
    url: {dead}
    retries: 2
  - name: fast
    match: {{slo: "*"}}
    action: webhook
    url: {fast.url}
""",
            )
        )
        report = process(store, [firing("agent-availability")], hooks)
        outcomes = {d.hook: (d.outcome, d.attempts) for d in report.deliveries}
        assert outcomes == {"slow": ("timeout", 2), "down": ("failed", 3), "fast": ("ok", 1)}
        assert len(fast.requests) == 1
        assert len(slow.requests) == 2
        # Bounded by the 300 ms timeout, not the 2 s the slow target takes to answer, as the
        # targets' own arrival stamps show: the retry and the other hooks came before the
        # first slow request would have been answered.
        first_slow = slow.requests[0].at
        assert slow.requests[1].at - first_slow < slow.delay
        assert fast.requests[0].at - first_slow < slow.delay
    audit = store.deliveries(report.opened[0])
    by_hook: dict[str, list[str]] = {}
    for a in audit:
        by_hook.setdefault(a.hook_name, []).append(a.outcome)
    assert by_hook == {"slow": ["timeout", "timeout"], "down": ["failed"] * 3, "fast": ["ok"]}
    down = [a for a in audit if a.hook_name == "down"]
    assert all("Connect" in (a.error or "") for a in down)
    # The evaluation went on: the incident is open, and a later pass (past the 10 ms backoff)
    # tries again only the hooks that failed, continuing their attempt count.
    assert store.open_incident_for("agent-availability", "page") is not None
    time.sleep(0.1)
    later = process(store, [firing("agent-availability")], hooks)
    assert sorted((d.hook, d.state) for d in later.deliveries) == [
        ("down", "pending"),
        ("slow", "pending"),
    ]
    again = [a for a in store.deliveries(report.opened[0]) if a.hook_name == "down"]
    assert [a.attempt for a in again] == [1, 2, 3, 4, 5, 6]


def test_client_error_is_not_retried_and_missing_secret_fails_cleanly(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_HOOK_SECRET", raising=False)
    with receiver(codes=[404]) as rx:
        hooks = load_hooks(
            write_hooks(
                tmp_path / "hooks.yaml",
                f"""\
hooks:
  - name: gone
    match: {{slo: "*"}}
    action: webhook
    url: {rx.url}
    retries: 3
  - name: signed
    match: {{slo: "*"}}
    action: webhook
    url: {rx.url}
    secret_env: TEST_HOOK_SECRET
""",
            )
        )
        report = process(store, [firing("x")], hooks)
    result = {d.hook: d for d in report.deliveries}
    assert result["gone"].outcome == "failed" and result["gone"].attempts == 1
    assert result["gone"].response_code == 404
    assert result["signed"].outcome == "failed"
    assert "TEST_HOOK_SECRET" in (result["signed"].error or "")
    assert len(rx.requests) == 1  # the unsigned one; nothing is sent without its secret


def test_page_and_ticket_are_separate_incidents_with_their_own_hooks(
    store: Store, tmp_path: Path
) -> None:
    with receiver() as rx:
        hooks = load_hooks(
            write_hooks(
                tmp_path / "hooks.yaml",
                f"""\
hooks:
  - name: pager
    match: {{slo: "*", severity: page}}
    action: webhook
    url: {rx.url}/page
  - name: tickets
    match: {{slo: "*", severity: ticket}}
    action: webhook
    url: {rx.url}/ticket
  - name: both
    match: {{slo: "*", severity: [page, ticket]}}
    action: webhook
    url: {rx.url}/both
    send_resolved: false
""",
            )
        )
        slow_burn = firing("agent-latency", "ticket")
        r1 = process(store, [slow_burn], hooks)
        assert sorted(d.hook for d in r1.deliveries) == ["both", "tickets"]
        # It gets worse: the page fires too (and the ticket keeps firing).
        worse = firing("agent-latency", "page")
        worse = type(worse)(**{**worse.__dict__, "firing": ("page_1h_5m", "ticket_3d_6h")})
        r2 = process(store, [worse], hooks)
        assert len(r2.opened) == 1
        assert sorted(d.hook for d in r2.deliveries) == ["both", "pager"]
        # The fast burn stops but the slow one goes on: only the page resolves.
        r3 = process(store, [slow_burn], hooks)
        assert r3.resolved == r2.opened
        assert [(d.hook, d.event) for d in r3.deliveries] == [("pager", "resolved")]
        paths = [r.path for r in rx.requests]
    assert sorted(paths) == ["/both", "/both", "/page", "/page", "/ticket"]
    open_now = store.list_incidents(open_only=True)
    assert [(i.slo_name, i.severity) for i in open_now] == [("agent-latency", "ticket")]


def test_cooldown_suppresses_a_flapping_alert(store: Store, tmp_path: Path) -> None:
    with receiver() as rx:
        hooks = load_hooks(
            write_hooks(
                tmp_path / "hooks.yaml",
                f"""\
hooks:
  - name: calm
    match: {{slo: "*"}}
    action: webhook
    url: {rx.url}/calm
    cooldown: 1h
  - name: eager
    match: {{slo: "*"}}
    action: webhook
    url: {rx.url}/eager
""",
            )
        )
        for _ in range(2):  # fire, recover, fire again
            process(store, [firing("flappy")], hooks)
            process(store, [ok("flappy")], hooks)
        third = process(store, [firing("flappy")], hooks)
        calm = [d for d in third.deliveries if d.hook == "calm"]
        assert [d.outcome for d in calm] == ["suppressed"]
        paths = [r.path for r in rx.requests]
    # eager: firing+resolved twice, then firing; calm: once each, nothing while cooling down.
    assert paths.count("/eager") == 5
    assert paths.count("/calm") == 2
    incidents = store.list_incidents()
    assert len(incidents) == 3


def test_dry_run_records_what_would_happen_and_sends_nothing(store: Store, tmp_path: Path) -> None:
    with receiver() as rx:
        hooks = load_hooks(_webhook_hooks(tmp_path, rx.url))
        report = process(store, [firing("agent-availability")], hooks, dry_run=True)
        assert [d.outcome for d in report.deliveries] == ["dry_run"]
        assert process(store, [firing("agent-availability")], hooks, dry_run=True).deliveries == []
        assert rx.requests == []
        [row] = store.deliveries(report.opened[0])
        assert row.outcome == "dry_run" and row.detail["target"] == f"{rx.url}/alert"
        assert row.detail["dry_run"] is True
        # A real evaluator on the same store still delivers: dry runs never use up a hook.
        real = process(store, [firing("agent-availability")], hooks)
        assert [d.outcome for d in real.deliveries] == ["failed"]  # secret not set
        dry_resolve = process(store, [ok("agent-availability")], hooks, dry_run=True)
        assert [(d.event, d.outcome) for d in dry_resolve.deliveries] == [("resolved", "dry_run")]
    assert rx.requests == []


def test_alertmanager_alert_is_re_sent_before_it_would_expire(store: Store, tmp_path: Path) -> None:
    with receiver() as am:  # stands in for Alertmanager's API (the real one: slow test)
        hooks = load_hooks(
            write_hooks(
                tmp_path / "hooks.yaml",
                f"""\
hooks:
  - name: am
    match: {{slo: "*"}}
    action: alertmanager
    url: {am.url}
    expire_after: 1s
""",
            )
        )
        first = process(store, [firing("x")], hooks)
        assert [d.event for d in first.deliveries] == ["firing"]
        assert process(store, [firing("x")], hooks).deliveries == []  # younger than expire/2
        time.sleep(0.6)
        refresh = process(store, [firing("x")], hooks)
        assert [(d.event, d.outcome) for d in refresh.deliveries] == [("refresh", "ok")]
        process(store, [ok("x")], hooks)
        bodies = am.bodies()
    assert [r.path for r in am.requests] == ["/api/v2/alerts"] * 3
    assert [b[0]["labels"]["slo"] for b in bodies] == ["x"] * 3
    assert bodies[0][0]["endsAt"] < bodies[1][0]["endsAt"]  # the refresh pushed endsAt out
    assert bodies[2][0]["endsAt"] <= bodies[1][0]["endsAt"]  # resolved: endsAt is now


def test_alertmanager_that_was_down_gets_the_alert_on_the_next_pass(
    store: Store, tmp_path: Path
) -> None:
    with receiver(codes=[503]) as am:
        hooks = load_hooks(
            write_hooks(
                tmp_path / "hooks.yaml",
                f"hooks:\n  - {{name: am, match: {{slo: x}}, action: alertmanager, url: '{am.url}',"
                " retries: 0, backoff: 10ms}\n",
            )
        )
        first = process(store, [firing("x")], hooks)
        assert [(d.event, d.outcome, d.response_code, d.state) for d in first.deliveries] == [
            ("firing", "failed", 503, "pending")
        ]
        time.sleep(0.05)  # past the 10 ms backoff
        second = process(store, [firing("x")], hooks)
        assert [(d.event, d.outcome, d.state) for d in second.deliveries] == [
            ("firing", "ok", "delivered")
        ]
        assert process(store, [firing("x")], hooks).deliveries == []
    assert len(am.requests) == 2
