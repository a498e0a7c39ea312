"""A pipeline_mode hook switches a real reference server into degraded mode and back."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.failover.helpers import firing, ok, write_hooks
from voiceobs.failover import load_hooks, process
from voiceobs.server import ServerConfig, running_server
from voiceobs.store import Store

TOKEN = "admin-token-for-tests"


@pytest.mark.slow
def test_pipeline_mode_hook_degrades_a_real_server_and_restores_it(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_ADMIN_TOKEN", TOKEN)
    store = Store.open(sqlite_url, create=True)
    config = ServerConfig(pipeline="echo", port=0, admin_token=TOKEN)
    with running_server(config) as srv:
        hooks = load_hooks(
            write_hooks(
                tmp_path / "hooks.yaml",
                f"""\
hooks:
  - name: degrade
    match: {{slo: agent-availability}}
    action: pipeline_mode
    url: {srv.http_url}
    token_env: TEST_ADMIN_TOKEN
  - name: wrong-token
    match: {{slo: agent-availability}}
    action: pipeline_mode
    url: {srv.http_url}
    token: not-the-token
    retries: 3
""",
            )
        )
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert httpx.get(f"{srv.http_url}/admin/mode", headers=auth).json()["mode"] == "normal"

        report = process(store, [firing("agent-availability")], hooks)
        got = {d.hook: d for d in report.deliveries}
        assert (got["degrade"].outcome, got["degrade"].response_code) == ("ok", 200)
        # A 401 is our mistake, not the server's: recorded once, not retried.
        assert (got["wrong-token"].outcome, got["wrong-token"].attempts) == ("failed", 1)
        assert got["wrong-token"].response_code == 401
        assert srv.state.mode == "degraded"
        assert httpx.get(f"{srv.http_url}/admin/mode", headers=auth).json()["mode"] == "degraded"

        done = process(store, [ok("agent-availability")], hooks)
        # wrong-token's firing never got through, so it owes no resolved notification; its
        # firing one stays pending, for a later pass after its backoff.
        assert {d.hook: d.outcome for d in done.deliveries} == {"degrade": "ok"}
        claims = {(c.hook_name, c.event): c.state for c in store.hook_claims()}
        assert claims == {
            ("degrade", "firing"): "delivered",
            ("degrade", "resolved"): "delivered",
            ("wrong-token", "firing"): "pending",
        }
        assert srv.state.mode == "normal"
    audit = [(d.hook_name, d.event, d.detail.get("mode")) for d in store.deliveries()]
    assert ("degrade", "firing", "degraded") in audit and ("degrade", "resolved", "normal") in audit
    store.close()
