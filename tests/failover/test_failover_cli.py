"""`voiceobs evaluate`, `watch` and `incident` over the real SLO engine and a real store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from tests.failover.helpers import free_port, receiver, write_hooks
from tests.store.factories import make_run
from voiceobs.cli.main import main
from voiceobs.results import utcnow
from voiceobs.store import Store

SLOS = """\
version: voiceobs/v1
slos:
  - name: agent-availability
    description: Callers reach the agent.
    selector:
      probe: agent-smoke
    sli:
      kind: availability
    objective: 99.5%
    window: 30d
"""


def _seed(url: str, *, failed: int = 0, good: int = 0, ago: timedelta) -> None:
    store = Store.open(url, create=True)
    at = utcnow() - ago
    for _ in range(failed):
        store.save_run(make_run(probe="agent-smoke", status="failed", started_at=at, turns=1,
                                with_spans=False))  # fmt: skip
    for i in range(good):
        store.save_run(make_run(probe="agent-smoke", started_at=at + timedelta(milliseconds=i),
                                turns=1, with_spans=False))  # fmt: skip
    store.close()


def _files(tmp_path: Path, hooks_body: str) -> tuple[str, str]:
    slos = tmp_path / "slos.yaml"
    slos.write_text(SLOS)
    hooks = write_hooks(tmp_path / "hooks.yaml", hooks_body)
    return str(slos), str(hooks)


def test_evaluate_opens_notifies_and_resolves(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(sqlite_url, failed=5, ago=timedelta(minutes=1))
    with receiver() as rx:
        slos, hooks = _files(
            tmp_path,
            f"""\
hooks:
  - name: pager
    match: {{slo: agent-availability, severity: page}}
    action: webhook
    url: {rx.url}/page
  - name: tickets
    match: {{labels: {{probe: agent-smoke}}, severity: ticket}}
    action: webhook
    url: {rx.url}/ticket
""",
        )
        args = ["evaluate", "--slos", slos, "--hooks", hooks, "--db", sqlite_url]
        main(args)
        out = capsys.readouterr().out
        assert "incident 1 opened" in out and "incident 2 opened" in out
        assert "hook pager (webhook) firing incident" in out
        assert sorted(r.path for r in rx.requests) == ["/page", "/ticket"]
        main(args)
        assert "no incident changes" in capsys.readouterr().out
        assert len(rx.requests) == 2

        # The fast burn stops (the last 5 minutes are clean); the slow burn goes on.
        _seed(sqlite_url, good=200, ago=timedelta(seconds=20))
        main(args)
        out = capsys.readouterr().out
        assert "resolved" in out
        assert [r.path for r in rx.requests][2:] == ["/page"]
        assert rx.requests[2].json()["status"] == "resolved"

    main(["incident", "list", "--db", sqlite_url])
    listing = capsys.readouterr().out
    assert "resolved" in listing and "open" in listing
    store = Store.open(sqlite_url)
    evaluations = store.evaluations("agent-availability")
    assert len(evaluations) == 3  # the SLO engine recorded each pass
    store.close()


def test_incident_commands_record_who(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(sqlite_url, failed=3, ago=timedelta(minutes=1))
    with receiver() as rx:
        slos, hooks = _files(
            tmp_path,
            f"""\
hooks:
  - name: pager
    match: {{slo: agent-availability}}
    action: webhook
    url: {rx.url}/page
  - name: dead
    match: {{slo: nothing}}
    action: webhook
    url: http://127.0.0.1:{free_port()}/
    retries: 0
""",
        )
        main(["evaluate", "--slos", slos, "--hooks", hooks, "--db", sqlite_url, "--json"])
        capsys.readouterr()
        db = ["--db", sqlite_url]
        main(["incident", "ack", "1", "--by", "alice", *db])
        main(["incident", "trigger", "1", "pager", "--hooks", hooks, "--by", "bob", *db])
        with pytest.raises(SystemExit) as failed:
            main(["incident", "trigger", "1", "dead", "--hooks", hooks, "--by", "bob", *db])
        assert failed.value.code == 1
        main(["incident", "resolve", "1", "--by", "carol", "--hooks", hooks, *db])
        out, err = capsys.readouterr()
        assert "incident 1 acknowledged" in out and "incident 1 resolved" in out
        assert "hook dead (webhook) for incident 1: failed" in err
        assert [r.json()["status"] for r in rx.requests] == ["firing", "firing", "resolved"]
    store = Store.open(sqlite_url)
    assert [(a.action, a.actor) for a in store.incident_actions(1)] == [
        ("acknowledge", "alice"),
        ("trigger_hook", "bob"),
        ("trigger_hook", "bob"),
        ("resolve", "carol"),
    ]
    store.close()


def test_bad_hooks_file_is_one_line_exit_2(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    slos, hooks = _files(tmp_path, "hooks:\n  - name: x\n    match: {slo: a}\n    action: sms\n")
    with pytest.raises(SystemExit) as info:
        main(["evaluate", "--slos", slos, "--hooks", hooks, "--db", sqlite_url])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"error: {hooks}:5: action: hook 'x': unknown action 'sms'; expected one of "
        "webhook, alertmanager, command, pipeline_mode, python"
    )


@pytest.mark.slow
def test_watch_runs_passes_and_stops_cleanly_on_sigterm(sqlite_url: str, tmp_path: Path) -> None:
    _seed(sqlite_url, failed=5, ago=timedelta(minutes=1))
    with receiver() as rx:
        slos, hooks = _files(
            tmp_path,
            f"""\
hooks:
  - name: pager
    match: {{slo: agent-availability}}
    action: webhook
    url: {rx.url}/page
  - name: down
    match: {{slo: agent-availability}}
    action: webhook
    url: http://127.0.0.1:{free_port()}/
    retries: 5
    backoff: 30s
""",
        )
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
        proc = subprocess.Popen(
            [sys.executable, "-m", "voiceobs.cli.main", "watch", "--slos", slos, "--hooks", hooks,
             "--db", sqlite_url, "--interval", "200ms"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )  # fmt: skip
        try:
            rx.wait_for(1, timeout=30)
            store = Store.open(sqlite_url)
            deadline = time.monotonic() + 10
            while not [d for d in store.deliveries() if d.hook_name == "down"]:
                assert time.monotonic() < deadline, "the down hook was never attempted"
                time.sleep(0.05)
            # It is now waiting 30 s before retrying the dead target; SIGTERM must not wait.
            start = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=10)
            took = time.monotonic() - start
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)
    assert proc.returncode == 0, err.decode()
    assert took < 5
    text = err.decode()
    assert "watching every 0.2s" in text and "stopped after" in text
    assert "Traceback" not in text
    assert "gave up retrying: shutting down" in text
    assert b"incident 1 opened" in out
    assert len(rx.requests) == 1
    down = [d for d in store.deliveries() if d.hook_name == "down"]
    assert [d.attempt for d in down] == [1]
    store.close()
