"""`voiceobs serve` as a real process: a bad voice refused before it starts, the admin token off the command line, a clean stop on signals."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from tests.helpers import (
    assert_one_line_error,
    cmdline,
    command,
    every_cmdline,
    free_port,
    voiceobs,
    wait_http,
)
from voiceobs.errors import ConfigError

TOKEN = "admin-token-only-the-file-knows-7f3a"


def _admin_status(port: int, token: str) -> int:
    r = httpx.get(
        f"http://127.0.0.1:{port}/admin/mode",
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    return r.status_code


@pytest.mark.slow
def test_token_from_a_file_stays_out_of_ps_and_sigint_exits_0(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text(TOKEN + "\n")
    port = free_port()
    with command("serve", "--pipeline", "echo", "--device", "cpu", "--port", str(port),
                 "--admin-token-file", str(secret)) as proc:  # fmt: skip
        wait_http(f"http://127.0.0.1:{port}/readyz", proc)
        assert _admin_status(port, TOKEN) == 200
        assert _admin_status(port, "wrong") == 401
        assert "--admin-token-file" in cmdline(proc.pid)
        assert not [pid for pid, line in every_cmdline().items() if TOKEN in line]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    assert "stopped by SIGINT" in err.decode()


@pytest.mark.slow
def test_token_from_the_environment_and_sigterm_exits_0_after_a_graceful_stop() -> None:
    port = free_port()
    with command("serve", "--pipeline", "echo", "--device", "cpu", "--port", str(port),
                 env={"VOICEOBS_ADMIN_TOKEN": TOKEN}) as proc:  # fmt: skip
        wait_http(f"http://127.0.0.1:{port}/readyz", proc)
        assert _admin_status(port, TOKEN) == 200
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    # Not killed by the signal (-15): uvicorn shut down, then the command returned.
    assert proc.returncode == 0, err.decode()
    assert "stopped by SIGTERM" in err.decode() and "Traceback" not in err.decode()


def test_token_precedence_argument_then_env_then_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from voiceobs.cli.serve import admin_token

    config = Path(os.environ["VOICEOBS_CONFIG"])
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('admin_token = "from-config"\n')
    assert admin_token(None, None) == "from-config"
    monkeypatch.setenv("VOICEOBS_ADMIN_TOKEN", "from-env")
    assert admin_token(None, None) == "from-env"
    secret = tmp_path / "token"
    secret.write_text("  from-file\n")
    assert admin_token(None, secret) == "from-file"
    assert admin_token("from-flag", None) == "from-flag"


def test_token_file_problems_are_one_line_errors(tmp_path: Path) -> None:
    from voiceobs.cli.serve import admin_token

    with pytest.raises(ConfigError, match="cannot read"):
        admin_token(None, tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        admin_token(None, empty)
    with pytest.raises(ConfigError, match="not both"):
        admin_token("x", empty)


def test_server_config_reads_the_token_through_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from voiceobs.server.app import ServerConfig

    Path(os.environ["VOICEOBS_CONFIG"]).parent.mkdir(parents=True, exist_ok=True)
    Path(os.environ["VOICEOBS_CONFIG"]).write_text('admin_token = "from-config"\n')
    assert ServerConfig(pipeline="echo").admin_token == "from-config"
    monkeypatch.setenv("VOICEOBS_ADMIN_TOKEN", "from-env")
    assert ServerConfig(pipeline="echo").admin_token == "from-env"
    assert ServerConfig(pipeline="echo", admin_token="given").admin_token == "given"


@pytest.mark.parametrize(
    ("voice", "needle"),
    [
        ("hibari:emma", "not in the package"),
        ("festival:kal", "unknown speech engine 'festival'"),
        ("xx-nope", "espeak-ng has no voice 'xx-nope'"),
    ],
)
def test_a_bad_voice_is_a_one_line_usage_error(voice: str, needle: str) -> None:
    proc = voiceobs("serve", "--pipeline", "agent", "--port", "0", "--voice", voice)
    assert proc.returncode == 2
    assert_one_line_error(proc, f"--voice {voice}:", needle)


def test_the_voice_can_come_from_the_environment() -> None:
    proc = voiceobs(
        "serve", "--pipeline", "agent", "--port", "0", env={"VOICEOBS_AGENT_VOICE": "hibari:emma"}
    )
    assert_one_line_error(proc, "--voice hibari:emma:", "not in the package")
