"""`voiceobs probe run`: exit codes 0/1/2, JSON output, quiet when not a TTY."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from tests.helpers import SHORT_PROMPT, ServerProcess
from voiceobs.cli.main import cli


def _spec(tmp_path: Path, target: str, **extra: object) -> Path:
    data = {
        "version": "voiceobs/v1",
        "name": "cli-probe",
        "target": target,
        "timeouts": {"connect_s": 3, "first_audio_s": 2, "call_s": 20},
        "turns": [{"prompt": SHORT_PROMPT, "reference": "prompt", "end_silence_ms": 300}],
        **extra,
    }
    path = tmp_path / "probe.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _invoke(args: list[str]) -> tuple[int, str]:
    from voiceobs.cli.main import main

    runner = CliRunner()
    result = runner.invoke(cli, args, standalone_mode=False, catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        from voiceobs.errors import VoiceObsError

        assert isinstance(result.exception, VoiceObsError)
        del main
        return result.exception.exit_code, str(result.exception)
    code = result.exit_code if not isinstance(result.exception, SystemExit) else int(result.exception.code or 0)
    return code, result.output


def test_spec_error_exits_2_with_file_line_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("version: voiceobs/v1\nname: x\ntarget: ws://h/twilio\nturns:\n  - promt: hi\n")
    code, out = _invoke(["probe", "run", str(path)])
    assert code == 2
    assert f"{path}:5: turns[0]" in out


@pytest.mark.slow
def test_ok_run_exits_0_and_prints_json(echo_server: ServerProcess, tmp_path: Path, sqlite_url: str) -> None:
    path = _spec(tmp_path, echo_server.url("twilio"))
    code, out = _invoke(["probe", "run", str(path), "--db", sqlite_url, "--json"])
    assert code == 0, out
    [run] = json.loads(out)
    assert run["status"] == "ok" and run["turns"][0]["path_delay_ms"] is not None


@pytest.mark.slow
def test_failed_call_exits_1_with_summary(echo_server: ServerProcess, tmp_path: Path, sqlite_url: str) -> None:
    path = _spec(tmp_path, echo_server.url("twilio"), parameters={"voiceobs_fault": "silence"})
    code, out = _invoke(["probe", "run", str(path), "--db", sqlite_url])
    assert code == 1
    assert "no_audio" in out and "0/1 calls succeeded" in out


def _calls_seen(server: ServerProcess) -> float:
    """Calls the reference server accepted so far, from its own /metrics."""
    import httpx

    text = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("voiceobs_server_calls_total{")
    )


@pytest.mark.slow
def test_concurrency_flag_places_that_many_concurrent_calls(
    echo_server: ServerProcess, tmp_path: Path, sqlite_url: str
) -> None:
    # The README's load probe: a spec without `calls:` and `--concurrency 3`.
    path = _spec(tmp_path, echo_server.url("twilio"))
    before = _calls_seen(echo_server)
    code, out = _invoke(["probe", "run", str(path), "--db", sqlite_url, "--json", "--concurrency", "3"])
    assert code == 0, out
    runs = json.loads(out)
    assert len(runs) == 3 and all(r["status"] == "ok" for r in runs)
    assert _calls_seen(echo_server) - before == 3
    from voiceobs.store import Store

    store = Store.open(sqlite_url)
    try:
        assert store.count_runs() == 3
        # Concurrent, not one after another: every call began before any call ended
        # (the probe's own recorded span times).
        windows = [(s.start_ns, s.end_ns) for r in runs for s in store.spans_for_run(r["id"]) if s.name == "call"]
    finally:
        store.close()
    assert len(windows) == 3
    assert max(start for start, _ in windows) < min(end for _, end in windows)


@pytest.mark.slow
def test_concurrency_flag_keeps_the_specs_call_count(
    echo_server: ServerProcess, tmp_path: Path, sqlite_url: str
) -> None:
    path = _spec(tmp_path, echo_server.url("twilio"), calls=2)
    before = _calls_seen(echo_server)
    code, out = _invoke(["probe", "run", str(path), "--db", sqlite_url, "--json", "--concurrency", "5"])
    assert code == 0, out
    assert len(json.loads(out)) == 2
    assert _calls_seen(echo_server) - before == 2


@pytest.mark.parametrize(("workers", "needle"), [("0", "at least 1"), ("-1", "at least 1"), ("3", "at most 2")])
def test_bad_workers_is_a_one_line_error_before_any_call(tmp_path: Path, workers: str, needle: str) -> None:
    path = _spec(tmp_path, "ws://127.0.0.1:9/twilio", calls=2, concurrency=2)
    code, out = _invoke(["probe", "run", str(path), "--workers", workers])
    assert code == 2 and needle in out and "\n" not in out.strip()


@pytest.mark.slow
def test_workers_flag_gives_one_merged_result_in_spec_order(
    echo_server: ServerProcess, tmp_path: Path, sqlite_url: str
) -> None:
    path = _spec(tmp_path, echo_server.url("twilio"), calls=4, concurrency=4)
    before = _calls_seen(echo_server)
    code, out = _invoke(["probe", "run", str(path), "--db", sqlite_url, "--json", "--workers", "2"])
    assert code == 0, out
    runs = json.loads(out)
    assert len(runs) == 4 and all(r["status"] == "ok" for r in runs)
    assert all(r["turns"][0]["pacing_error_p99_ms"] is not None for r in runs)
    assert _calls_seen(echo_server) - before == 4
    from voiceobs.store import Store

    store = Store.open(sqlite_url)
    try:
        assert store.count_runs() == 4
        # Spec order: each call's own root span carries its index in the spec.
        order = [
            next(s.attributes["voiceobs.call_index"] for s in store.spans_for_run(r["id"]) if s.name == "probe.run")
            for r in runs
        ]
    finally:
        store.close()
    assert order == [0, 1, 2, 3]
