"""A real Alertmanager receives voiceobs's alert and routes it to a webhook receiver."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.failover.helpers import firing, ok, write_hooks
from tests.helpers import Receiver, free_port, receiver
from voiceobs.failover import load_hooks, process
from voiceobs.store import Store

AM_BIN = "/usr/bin/prometheus-alertmanager"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(AM_BIN).exists(), reason="prometheus-alertmanager not installed"),
]


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[tuple[str, Receiver]]:
    """Alertmanager on a free loopback port whose only receiver is our webhook receiver."""
    with receiver() as rx:
        config = tmp_path / "alertmanager.yml"
        config.write_text(
            f"""\
route:
  receiver: voiceobs-test
  group_by: [alertname, slo, severity]
  group_wait: 200ms
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: voiceobs-test
    webhook_configs:
      - url: {rx.url}/from-alertmanager
        send_resolved: true
"""
        )
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen(
            [
                AM_BIN,
                f"--config.file={config}",
                f"--storage.path={tmp_path / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    pytest.fail(f"alertmanager did not start: {err[-500:]}")
                time.sleep(0.1)
            yield url, rx
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def _wait(rx: Receiver, status: str, timeout: float = 15.0) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = [b for b in rx.bodies() if b["status"] == status]
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"no {status} notification from alertmanager within {timeout}s")


def test_alert_goes_through_real_alertmanager_firing_then_resolved(
    alertmanager: tuple[str, Receiver], tmp_path: Path, sqlite_url: str
) -> None:
    assert shutil.which(AM_BIN) or Path(AM_BIN).exists()
    am_url, rx = alertmanager
    store = Store.open(sqlite_url, create=True)
    hooks = load_hooks(
        write_hooks(
            tmp_path / "hooks.yaml",
            f"""\
external_url: http://dash.test
hooks:
  - name: am
    match: {{slo: "*"}}
    action: alertmanager
    url: {am_url}
""",
        )
    )
    report = process(store, [firing("agent-availability", region="eu")], hooks)
    assert [(d.outcome, d.response_code) for d in report.deliveries] == [("ok", 200)]

    [fired] = _wait(rx, "firing")
    [alert] = fired["alerts"]  # type: ignore[index]
    assert alert["labels"] == {
        "alertname": "VoiceobsSLOBurn",
        "slo": "agent-availability",
        "severity": "page",
        "region": "eu",
    }
    assert "agent-availability" in alert["annotations"]["summary"]
    assert alert["generatorURL"] == f"http://dash.test/?incident={report.opened[0]}"
    # Alertmanager's own fingerprint of the alert equals the one voiceobs computes.
    listed = httpx.get(f"{am_url}/api/v2/alerts", timeout=5).json()
    assert [a["fingerprint"] for a in listed] == [alert["fingerprint"]]
    from voiceobs.failover.payload import fingerprint

    assert alert["fingerprint"] == fingerprint(alert["labels"])

    # Passes while it keeps firing add nothing; recovery resolves it through Alertmanager.
    assert process(store, [firing("agent-availability", region="eu")], hooks).deliveries == []
    done = process(store, [ok("agent-availability", region="eu")], hooks)
    assert [(d.event, d.outcome) for d in done.deliveries] == [("resolved", "ok")]
    [resolved] = _wait(rx, "resolved")
    assert resolved["alerts"][0]["status"] == "resolved"  # type: ignore[index]
    time.sleep(2.5)  # two more group intervals: nothing else arrives
    statuses = [b["status"] for b in rx.bodies()]
    assert statuses == ["firing", "resolved"]
    assert {r.path for r in rx.requests} == {"/from-alertmanager"}
    store.close()
