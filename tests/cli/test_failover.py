"""`voiceobs evaluate`, `watch` and `incident` over the real SLO engine and a real store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.failover.helpers import write_hooks
from tests.helpers import free_port, receiver
from tests.store.factories import make_run
from voiceobs.cli.main import main
from voiceobs.results import utcnow
from voiceobs.store import Store
from voiceobs.store.models import MetricRollup

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
            # Each pass keeps the exporter's rows too (for an exporter that may only read).
            failed_calls = select(func.sum(MetricRollup.n)).where(MetricRollup.measure == "calls_failed")
            deadline = time.monotonic() + 10
            while True:
                with store.engine.connect() as conn:
                    if conn.execute(failed_calls).scalar() == 5:
                        break
                assert time.monotonic() < deadline, "watch never refreshed the exporter's rows"
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


def _evaluate_cmd(slos: str, hooks: str, url: str) -> list[str]:
    return [sys.executable, "-m", "voiceobs.cli.main", "evaluate", "--slos", slos,
            "--hooks", hooks, "--db", url]  # fmt: skip


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}


def _slow_hook(tmp_path: Path, url: str) -> tuple[str, str]:
    return _files(
        tmp_path,
        f"""\
hooks:
  - name: pager
    match: {{slo: agent-availability}}
    action: webhook
    url: {url}/page
    timeout: 2s
    retries: 0
""",
    )


@pytest.mark.slow
def test_evaluate_killed_mid_delivery_leaves_a_claim_the_next_pass_delivers(
    db_url: str, tmp_path: Path
) -> None:
    _seed(db_url, failed=5, ago=timedelta(minutes=1))
    with receiver(hold=1) as rx:  # the first request hangs, as a slow target would
        slos, hooks = _slow_hook(tmp_path, rx.url)
        cmd = _evaluate_cmd(slos, hooks, db_url)
        proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            rx.wait_for(1, timeout=60)
        finally:
            proc.kill()  # SIGKILL while the delivery is in flight
            proc.communicate(timeout=30)
        store = Store.open(db_url)
        [claim] = store.hook_claims()
        assert claim.state == "delivering" and claim.lease_until is not None
        assert store.deliveries() == []  # the killed process wrote nothing about it

        # While the dead process's lease runs, another pass must not deliver (it may be alive).
        started = utcnow()
        early = subprocess.run(cmd, env=_env(), capture_output=True, timeout=60, check=False)
        assert early.returncode == 0, early.stderr.decode()
        if utcnow() < claim.lease_until:
            assert len(rx.requests) == 1
        assert started < claim.lease_until or len(rx.requests) == 2

        time.sleep(max(0.0, (claim.lease_until - utcnow()).total_seconds()) + 0.1)
        late = subprocess.run(cmd, env=_env(), capture_output=True, timeout=60, check=False)
        assert late.returncode == 0, late.stderr.decode()
        requests = rx.wait_for(2, timeout=10)
    assert len(requests) == 2
    keys = [r.headers["idempotency-key"] for r in requests]
    assert keys == [claim.idempotency_key] * 2  # the receiver can tell it is one notification
    [done] = store.hook_claims()
    assert (done.state, done.attempts) == ("delivered", 2)
    trail = [(d.attempt, d.outcome) for d in store.deliveries()]
    assert trail == [(1, "interrupted"), (2, "ok")]
    assert "stopped during this attempt" in (store.deliveries()[0].error or "")
    store.close()


@pytest.mark.slow
def test_evaluate_stopped_by_sigterm_mid_delivery_hands_the_claim_back(
    sqlite_url: str, tmp_path: Path
) -> None:
    _seed(sqlite_url, failed=5, ago=timedelta(minutes=1))
    with receiver(hold=1) as rx:
        slos, hooks = _slow_hook(tmp_path, rx.url)
        cmd = _evaluate_cmd(slos, hooks, sqlite_url)
        proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            rx.wait_for(1, timeout=60)
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)
        text = err.decode()
        assert proc.returncode == 143, text
        assert "Traceback" not in text
        assert "stopped by SIGTERM: unfinished deliveries are pending" in text
        store = Store.open(sqlite_url)
        [claim] = store.hook_claims()
        # The attempt in flight ran out its timeout; the claim is pending and due at once.
        assert claim.state == "pending" and claim.next_attempt_at is not None
        assert claim.next_attempt_at <= utcnow()
        assert [d.outcome for d in store.deliveries()] == ["timeout"]
        rx.release()
        again = subprocess.run(cmd, env=_env(), capture_output=True, timeout=60, check=False)
        assert again.returncode == 0, again.stderr.decode()
        requests = rx.wait_for(2, timeout=10)
    assert [r.headers["idempotency-key"] for r in requests] == [claim.idempotency_key] * 2
    assert [(d.attempt, d.outcome) for d in store.deliveries()] == [(1, "timeout"), (2, "ok")]
    store.close()


def test_a_delivery_given_up_makes_evaluate_exit_1_and_shows_in_incident_commands(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(sqlite_url, failed=5, ago=timedelta(minutes=1))
    with receiver(codes=[500] * 10) as rx:
        slos, hooks = _files(
            tmp_path,
            f"""\
hooks:
  - name: pager
    match: {{slo: agent-availability}}
    action: webhook
    url: {rx.url}/page
    retries: 0
    backoff: 10ms
    give_up_after: 1s
""",
        )
        args = ["evaluate", "--slos", slos, "--hooks", hooks, "--db", sqlite_url]
        main(args)  # fails, will be retried: exit 0
        out, err = capsys.readouterr()
        assert "incident 1 opened" in out
        assert "hook pager (webhook) firing incident 1: failed - HTTP 500" in err
        assert "will retry from" in err and "gives up at" in err
        main(["incident", "list", "--db", sqlite_url])
        assert "hooks: 1 pending" in capsys.readouterr().out

        store = Store.open(sqlite_url)
        [claim] = store.hook_claims()
        assert claim.give_up_at is not None
        time.sleep(max(0.0, (claim.give_up_at - utcnow()).total_seconds()) + 0.05)
        with pytest.raises(SystemExit) as gave_up:
            main(args)
        assert gave_up.value.code == 1
        err = capsys.readouterr().err
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert errors == [
            "error: 1 hook delivery given up in this pass (pager firing incident 1); nobody will "
            "retry it: see `voiceobs incident deliveries --state given_up`"
        ]
        assert "given up after" in err and "give_up_after (1s)" in err
        main(args)  # nothing is owed any more: quiet, exit 0
        assert "no incident changes" in capsys.readouterr().out
        sent = len(rx.requests)

    main(["incident", "deliveries", "--state", "given_up", "--json", "--db", sqlite_url])
    [row] = json.loads(capsys.readouterr().out)
    assert (row["hook"], row["event"], row["state"]) == ("pager", "firing", "given_up")
    assert row["idempotency_key"] == claim.idempotency_key
    assert "HTTP 500" in row["last_error"]
    main(["incident", "deliveries", "1", "--db", sqlite_url])
    assert "given_up" in capsys.readouterr().out
    main(["incident", "list", "--json", "--db", sqlite_url])
    listed = {i["id"]: i["deliveries"] for i in json.loads(capsys.readouterr().out)}
    assert listed == {1: {"given_up": 1}, 2: {}}  # incident 2 is the ticket: no hook bound
    assert sent >= 1 and [c.state for c in store.hook_claims()] == ["given_up"]
    assert [d.outcome for d in store.deliveries()][-1] == "given_up"
    store.close()


class _Watch:
    """A real `voiceobs watch` subprocess whose stderr is read as it comes."""

    def __init__(self, slos: str, hooks: str, url: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "voiceobs.cli.main", "watch", "--slos", slos, "--hooks", hooks,
             "--db", url, "--interval", "200ms"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env(), text=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for_line(self, words: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in list(self.lines) if words in line]
            if found:
                return found[0]
            assert self.proc.poll() is None, "\n".join(self.lines)
            time.sleep(0.05)
        raise AssertionError(f"no line with {words!r} in:\n" + "\n".join(self.lines))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.reader.join(timeout=10)


def _passes(url: str) -> int:
    store = Store.open(url)
    try:
        return len(store.evaluations("agent-availability"))
    finally:
        store.close()


@pytest.mark.slow
def test_watch_stops_with_one_line_when_its_sqlite_file_is_removed(
    sqlite_url: str, tmp_path: Path
) -> None:
    _seed(sqlite_url, failed=5, ago=timedelta(minutes=1))
    db = Path(sqlite_url.removeprefix("sqlite:///"))
    with receiver() as rx:
        slos, hooks = _files(
            tmp_path,
            f"hooks:\n  - {{name: pager, match: {{slo: agent-availability}}, action: webhook,"
            f" url: '{rx.url}'}}\n",
        )
        watch = _Watch(slos, hooks, sqlite_url)
        try:
            rx.wait_for(1, timeout=60)  # a pass ran on the file: the incident is out
            db.unlink()
            rc = watch.proc.wait(timeout=30)  # it used to run on, writing to the deleted file
        finally:
            watch.stop()
    text = "\n".join(watch.lines)
    assert rc == 2, text
    assert "Traceback" not in text
    errors = [line for line in watch.lines if line.startswith("error:")]
    assert errors == [
        f"error: the SQLite store {db.resolve()} was removed while watch was running; stopped so "
        "nothing more is written to a deleted file (restore it, or create one with "
        "`voiceobs db upgrade`, and start watch again)"
    ]


@pytest.mark.slow
def test_watch_reopens_its_sqlite_file_when_it_is_replaced(sqlite_url: str, tmp_path: Path) -> None:
    _seed(sqlite_url, failed=5, ago=timedelta(minutes=1))
    db = Path(sqlite_url.removeprefix("sqlite:///"))
    replacement = tmp_path / "restored.db"
    with receiver() as rx:
        slos, hooks = _files(
            tmp_path,
            f"hooks:\n  - {{name: pager, match: {{slo: agent-availability}}, action: webhook,"
            f" url: '{rx.url}'}}\n",
        )
        watch = _Watch(slos, hooks, sqlite_url)
        try:
            rx.wait_for(1, timeout=60)
            # A store restored from elsewhere (its own calls failing too) is moved over the file.
            _seed(f"sqlite:///{replacement}", failed=7, ago=timedelta(seconds=30))
            replaced_at = utcnow()
            os.replace(replacement, db)
            line = watch.wait_for_line("was replaced while watch was running")
            # Later passes write to the new file: its incident opens and its hook fires.
            rx.wait_for(2, timeout=30)
            deadline = time.monotonic() + 30
            while _passes(sqlite_url) < 2:
                assert time.monotonic() < deadline, "\n".join(watch.lines)
                time.sleep(0.1)
            watch.proc.send_signal(signal.SIGTERM)
            rc = watch.proc.wait(timeout=30)
        finally:
            watch.stop()
    text = "\n".join(watch.lines)
    assert rc == 0, text
    assert "Traceback" not in text
    assert line == (
        f"warning: the SQLite store {db.resolve()} was replaced while watch was running; "
        "reopened it, later passes use the new file"
    )
    store = Store.open(sqlite_url)
    # The incidents the later passes opened are in the file now at the path.
    incidents = {i.severity: i for i in store.list_incidents(open_only=True)}
    assert set(incidents) == {"page", "ticket"}
    assert all(i.opened_at >= replaced_at for i in incidents.values())
    assert [c.state for c in store.hook_claims(incidents["page"].id)] == ["delivered"]
    assert len(store.evaluations("agent-availability")) >= 2
    # The new file's own rows, not the old file's write-ahead log laid over them.
    assert store.count_runs() == 7
    keys = [r.headers["idempotency-key"] for r in rx.requests]
    assert len(keys) == 2 and keys[0] != keys[1]  # one notification per store's incident
    store.close()


@pytest.mark.postgres
def test_watch_makes_postgresql_partitions_ahead_when_it_starts(pg_url: str, tmp_path: Path) -> None:
    from sqlalchemy import text

    from voiceobs.store.partitions import list_partitions

    store = Store.open(pg_url, create=True)
    ahead = f"turns_p{utcnow() + timedelta(days=7):%Y%m%d}"
    with store.engine.begin() as conn:
        conn.execute(text(f'DROP TABLE "{ahead}"'))
    slos, hooks = _files(
        tmp_path,
        f"""\
hooks:
  - name: pager
    match: {{slo: agent-availability}}
    action: webhook
    url: http://127.0.0.1:{free_port()}/
""",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "voiceobs.cli.main", "watch", "--slos", slos, "--hooks", hooks,
         "--db", pg_url, "--interval", "200ms"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while ahead not in {p.name for p in list_partitions(store, "turns")}:
            assert proc.poll() is None, proc.communicate()[1].decode()
            assert time.monotonic() < deadline, "watch made no partitions ahead"
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        store.close()
