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
