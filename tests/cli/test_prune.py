"""`voiceobs db prune`, the retention notes of `slo status`, and the prune schedule of `watch`
and `collect`, as a user runs them."""

from __future__ import annotations

import json
import signal
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tests.failover.helpers import write_hooks
from tests.helpers import assert_one_line_error, command, free_port, voiceobs, wait_http
from tests.store.factories import make_run
from voiceobs.cli.main import main
from voiceobs.results import utcnow
from voiceobs.store import ProbeRun, Store


def _seed(url: str, more_expired: int = 0) -> None:
    """Two calls 45 days old (expired under the default 30 days), one from an hour ago.

    ``more_expired`` calls more, 50 days old: enough rows that pruning them frees whole pages.
    """
    store = Store.open(url, create=True)
    now = utcnow()
    for ago in (timedelta(days=45), timedelta(days=45, minutes=1), timedelta(hours=1)):
        store.save_run(make_run(probe="agent-smoke", started_at=now - ago, turns=2))
    store.save_runs(
        [
            make_run(probe="agent-smoke", started_at=now - timedelta(days=50, seconds=i), turns=4)
            for i in range(more_expired)
        ]
    )
    store.close()


def _runs(url: str) -> int:
    store = Store.open(url)
    try:
        with store.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(ProbeRun)).scalar() or 0)
    finally:
        store.close()


def test_db_prune_dry_run_then_prune(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    _seed(sqlite_url)
    main(["db", "prune", "--dry-run", "--db", sqlite_url, "--json"])
    dry = json.loads(capsys.readouterr().out)
    assert dry["dry_run"] and dry["removed"]["probe_runs"] == 2 and dry["removed"]["turns"] == 4
    assert _runs(sqlite_url) == 3
    main(["db", "prune", "--db", sqlite_url])
    out = capsys.readouterr().out
    assert "removed: " in out and "probe_runs 2" in out and "turns 4" in out
    assert "policy: spans 14d, turns 30d, hooks 30d, rollups 400d" in out
    assert "pages given back" in out
    assert _runs(sqlite_url) == 1
    main(["db", "prune", "--db", sqlite_url])
    assert "removed: nothing" in capsys.readouterr().out


def test_db_prune_on_an_old_sqlite_file_says_how_to_reclaim_and_vacuum_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    sqlite3.connect(path).execute("CREATE TABLE made_before (x)").connection.close()
    url = f"sqlite:///{path}"
    _seed(url, more_expired=300)
    main(["db", "prune", "--db", url])
    assert "`voiceobs db prune --vacuum` once" in capsys.readouterr().err
    main(["db", "prune", "--vacuum", "--db", url])
    assert "(incremental from now on)" in capsys.readouterr().out
    assert sqlite3.connect(path).execute("PRAGMA auto_vacuum").fetchone()[0] == 2


def test_bad_retention_settings_are_one_line_errors(sqlite_url: str, tmp_path: Path) -> None:
    _seed(sqlite_url)
    bad = voiceobs("db", "prune", "--db", sqlite_url, env={"VOICEOBS_RETENTION_SPANS": "2 weeks"})
    assert bad.returncode == 2
    assert_one_line_error(
        bad, "retention_spans", "invalid duration '2 weeks'", "VOICEOBS_RETENTION_SPANS"
    )
    config = tmp_path / "config.toml"
    config.write_text('retention_rollups = "7d"\n')
    short = voiceobs("db", "prune", "--db", sqlite_url, env={"VOICEOBS_CONFIG": str(config)})
    assert_one_line_error(short, "retention_rollups (7d) is shorter than retention_turns (30d)")
    assert _runs(sqlite_url) == 3  # nothing removed on a bad policy


SLOS = """\
version: voiceobs/v1
slos:
  - name: agent-availability
    selector: {probe: agent-smoke}
    sli: {kind: availability}
    objective: 99.5%
    window: 30d
"""


def test_slo_status_notes_a_window_past_raw_retention(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    _seed(sqlite_url)
    slos = tmp_path / "slos.yaml"
    slos.write_text(SLOS)
    main(["slo", "status", "--slos", str(slos), "--db", sqlite_url, "--no-record"])
    assert "note:" not in capsys.readouterr().err  # 30d of 30d raw: nothing to say
    monkeypatch.setenv("VOICEOBS_RETENTION_TURNS", "14d")
    main(["slo", "status", "--slos", str(slos), "--db", sqlite_url, "--no-record"])
    err = capsys.readouterr().err
    assert (
        "note: agent-availability: window 30d reaches past raw retention (turns kept 14d); "
        "computed from per-minute rollups"
    ) in err


HOOKS = """\
hooks:
  - name: log
    match: {slo: nothing-matches-this}
    action: webhook
    url: http://127.0.0.1:9/unused
"""


def test_watch_prunes_on_its_schedule(sqlite_url: str, tmp_path: Path) -> None:
    _seed(sqlite_url)
    slos = tmp_path / "slos.yaml"
    slos.write_text(SLOS)
    hooks = write_hooks(tmp_path / "hooks.yaml", HOOKS)
    args = ("watch", "--slos", str(slos), "--hooks", str(hooks), "--db", sqlite_url,
            "--interval", "0.2s")  # fmt: skip
    with command(*args, env={"VOICEOBS_PRUNE_INTERVAL": "1s"}) as proc:
        deadline = time.monotonic() + 60
        while _runs(sqlite_url) != 1:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    stderr = err.decode()
    assert proc.returncode == 0, stderr
    [line] = [ln for ln in stderr.splitlines() if ln.startswith("pruned ")]
    assert "turns 4, probe_runs 2)" in line


@pytest.mark.slow
def test_collect_prunes_on_its_schedule_and_says_so_at_exit(sqlite_url: str) -> None:
    _seed(sqlite_url)
    port = free_port()
    with command("collect", "--port", str(port), "--db", sqlite_url,
                 env={"VOICEOBS_PRUNE_INTERVAL": "1s"}) as proc:  # fmt: skip
        wait_http(f"http://127.0.0.1:{port}/readyz", proc)
        deadline = time.monotonic() + 60
        while _runs(sqlite_url) != 1:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        time.sleep(1.5)  # at least one more (empty) prune
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    stderr = err.decode()
    assert proc.returncode == 0, stderr
    assert "prune(s) (0 failed)" in stderr and "Traceback" not in stderr
    runs = int(stderr.split("prune(s)")[0].rsplit(", ", 1)[1])
    assert runs >= 2
    assert 'voiceobs_collect_pruned_rows_total{table="probe_runs"} 2.0' in metrics
    assert 'voiceobs_collect_pruned_rows_total{table="turns"} 4.0' in metrics
    assert 'voiceobs_collect_prunes_total{outcome="ok"}' in metrics
    assert 'voiceobs_collect_prunes_total{outcome="failed"}' not in metrics


def test_prune_interval_off_disables_the_watch_schedule(sqlite_url: str, tmp_path: Path) -> None:
    _seed(sqlite_url)
    slos = tmp_path / "slos.yaml"
    slos.write_text(SLOS)
    hooks = write_hooks(tmp_path / "hooks.yaml", HOOKS)
    args = ("watch", "--slos", str(slos), "--hooks", str(hooks), "--db", sqlite_url,
            "--interval", "0.2s")  # fmt: skip
    with command(*args, env={"VOICEOBS_PRUNE_INTERVAL": "off"}) as proc:
        time.sleep(3)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    assert "stopped after" in err.decode() and "pruned" not in err.decode()
    assert _runs(sqlite_url) == 3
