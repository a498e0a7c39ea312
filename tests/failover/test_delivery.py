"""At-least-once delivery: a failed hook event is retried by later passes until delivered or given up.

Real loopback receivers, real stores (SQLite and PostgreSQL); the receiver
sees the same idempotency key on every retry of one event.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

from tests.failover.helpers import firing, ok, write_hooks
from tests.helpers import receiver
from voiceobs.failover import load_hooks, process
from voiceobs.failover.spec import HooksFile
from voiceobs.results import utcnow
from voiceobs.store import HookClaim, Store


def _hooks(tmp_path: Path, body: str) -> HooksFile:
    return load_hooks(write_hooks(tmp_path / "hooks.yaml", body))


def _wait_until_due(claim: HookClaim) -> None:
    assert claim.next_attempt_at is not None
    time.sleep(max(0.0, (claim.next_attempt_at - utcnow()).total_seconds()) + 0.02)


def test_webhook_failing_after_its_retries_is_sent_again_with_the_same_idempotency_key(
    store: Store, tmp_path: Path
) -> None:
    with receiver(codes=[500]) as rx:
        hooks = _hooks(
            tmp_path,
            f"""\
hooks:
  - name: oncall
    match: {{slo: agent-availability}}
    action: webhook
    url: {rx.url}/alert
    retries: 0
    backoff: 50ms
""",
        )
        first = process(store, [firing("agent-availability")], hooks)
        [d] = first.deliveries
        assert (d.outcome, d.response_code, d.state) == ("failed", 500, "pending")
        assert first.pending == [d] and first.given_up == []
        [claim] = store.hook_claims()
        assert (claim.state, claim.attempts, claim.last_error) == ("pending", 1, d.error)
        assert claim.next_attempt_at is not None and claim.next_attempt_at > claim.claimed_at
        assert claim.give_up_at is not None
        assert claim.give_up_at - claim.claimed_at == timedelta(hours=24)  # the stated default

        _wait_until_due(claim)
        second = process(store, [firing("agent-availability")], hooks)
        assert [(d.outcome, d.state, d.attempts) for d in second.deliveries] == [
            ("ok", "delivered", 1)
        ]
        assert process(store, [firing("agent-availability")], hooks).deliveries == []

        # The incident resolves: one resolved notification, under a key of its own.
        done = process(store, [ok("agent-availability")], hooks)
        assert [(d.event, d.state) for d in done.deliveries] == [("resolved", "delivered")]
        requests = list(rx.requests)

    keys = [r.headers["idempotency-key"] for r in requests]
    assert len(keys) == 3
    assert keys[0] == keys[1] == claim.idempotency_key  # the retry: same key
    assert keys[2] != keys[0]  # a different event
    assert [r.json()["idempotencyKey"] for r in requests] == keys
    assert [r.json()["status"] for r in requests] == ["firing", "firing", "resolved"]
    trail = store.deliveries(first.opened[0])
    assert [(a.event, a.attempt, a.outcome, a.response_code) for a in trail] == [
        ("firing", 1, "failed", 500),
        ("firing", 2, "ok", 200),
        ("resolved", 1, "ok", 200),
    ]
    states = {c.event: (c.state, c.attempts) for c in store.hook_claims()}
    assert states == {"firing": ("delivered", 2), "resolved": ("delivered", 1)}


def test_firing_retry_waits_for_its_backoff_and_resolved_waits_for_firing(
    store: Store, tmp_path: Path
) -> None:
    with receiver(codes=[503, 503]) as rx:
        hooks = _hooks(
            tmp_path,
            f"""\
hooks:
  - {{name: am, match: {{slo: x}}, action: webhook, url: "{rx.url}", retries: 0, backoff: 1s}}
""",
        )
        process(store, [firing("x")], hooks)
        [claim] = store.hook_claims()
        assert claim.next_attempt_at is not None
        # The incident resolves before the retry is due: nothing is sent yet (the firing
        # one is not due, and a resolved one would reach a receiver that never saw it fire).
        early = process(store, [ok("x")], hooks)
        if utcnow() < claim.next_attempt_at:  # the pass ran inside the backoff
            assert early.deliveries == [] and len(rx.requests) == 1
        _wait_until_due(store.hook_claims()[0])
        late = process(store, [ok("x")], hooks)  # the firing retry: 503 again, still pending
        assert [(d.event, d.state) for d in late.deliveries] == [("firing", "pending")]
        _wait_until_due(store.hook_claims()[0])
        fired = process(store, [ok("x")], hooks)
        assert [(d.event, d.state) for d in fired.deliveries] == [("firing", "delivered")]
        resolved = process(store, [ok("x")], hooks)
        assert [(d.event, d.state) for d in resolved.deliveries] == [("resolved", "delivered")]
        statuses = [r.json()["status"] for r in rx.requests]
    assert statuses == ["firing", "firing", "firing", "resolved"]


def test_command_and_python_hooks_get_the_idempotency_key(store: Store, tmp_path: Path) -> None:
    seen = tmp_path / "seen.jsonl"
    script = tmp_path / "hook.sh"
    script.write_text(
        "#!/bin/sh\n"
        f'printf \'%s %s\\n\' "$VOICEOBS_IDEMPOTENCY_KEY" "$(cat)" >> {seen}\n'
        f'[ "$(wc -l < {seen})" -ge 2 ]\n'  # fails the first time, succeeds the second
    )
    script.chmod(0o755)
    hooks = _hooks(
        tmp_path,
        f"""\
hooks:
  - {{name: cmd, match: {{slo: x}}, action: command, argv: ["{script}"], retries: 0,
      backoff: 10ms}}
  - {{name: py, match: {{slo: x}}, action: python, entry_point: tests.failover.helpers:record_call}}
""",
    )
    from tests.failover import helpers

    helpers.CALLS.clear()
    first = process(store, [firing("x")], hooks)
    assert {d.hook: d.state for d in first.deliveries} == {"cmd": "pending", "py": "delivered"}
    _wait_until_due(next(c for c in store.hook_claims() if c.hook_name == "cmd"))
    second = process(store, [firing("x")], hooks)
    assert [(d.hook, d.state) for d in second.deliveries] == [("cmd", "delivered")]
    claims = {c.hook_name: c.idempotency_key for c in store.hook_claims()}
    lines = [line.split(" ", 1) for line in seen.read_text().splitlines()]
    assert [key for key, _ in lines] == [claims["cmd"], claims["cmd"]]
    assert [json.loads(body)["idempotency_key"] for _, body in lines] == [claims["cmd"]] * 2
    [call] = helpers.CALLS
    assert call["idempotency_key"] == claims["py"] != claims["cmd"]
