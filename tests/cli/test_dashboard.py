"""`voiceobs dashboard` finds its app and refuses a missing one with a one-line error."""

from __future__ import annotations

from pathlib import Path

import pytest

from voiceobs.cli.dashboard import app_path
from voiceobs.errors import ConfigError


def test_app_path_in_a_checkout() -> None:
    path = app_path()
    assert path.name == "streamlit_app.py" and (path.parent / "app_pages" / "overview.py").is_file()


def test_missing_app_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICEOBS_DASHBOARD_APP", str(tmp_path / "nope.py"))
    with pytest.raises(ConfigError, match="VOICEOBS_DASHBOARD_APP"):
        app_path()


@pytest.mark.slow
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_dashboard_stops_on_a_signal_and_leaves_nothing_behind(empty_url: str, sig: str) -> None:
    import signal

    from tests.helpers import command, free_port, in_session, wait_gone, wait_http

    port = free_port()
    with command("dashboard", "--db", empty_url, "--no-auth", "--port", str(port)) as proc:
        wait_http(f"http://127.0.0.1:{port}/_stcore/health", proc)
        started = in_session(proc.pid)
        proc.send_signal(getattr(signal, sig))
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err.decode()[-2000:]
        assert wait_gone(started, 5.0) == []
