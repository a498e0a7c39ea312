"""Settings, resolved as: explicit argument > ``VOICEOBS_*`` env var > config file > default.

The config file is TOML (``$VOICEOBS_CONFIG`` or ``<user config dir>/voiceobs/config.toml``)
with top-level keys named like the settings (``db_url = "..."``). One resolution
order everywhere means a cron job, a CI gate and the dashboard all agree on
which store they talk to.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from voiceobs.errors import ConfigError

_APP = "voiceobs"


def data_dir() -> Path:
    """Where voiceobs keeps its embedded store, spool and caches.

    ``VOICEOBS_DATA_DIR`` moves it (tests and containers use this).
    """
    override = os.environ.get("VOICEOBS_DATA_DIR")
    return Path(override) if override else Path(platformdirs.user_data_dir(_APP))


def config_path() -> Path:
    """The config file consulted after env vars; it need not exist."""
    override = os.environ.get("VOICEOBS_CONFIG")
    if override:
        return Path(override)
    return Path(platformdirs.user_config_dir(_APP)) / "config.toml"


def _file_settings() -> dict[str, Any]:
    path = config_path()
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}; fix or remove it") from exc


def default_db_url() -> str:
    """The embedded SQLite store under the data directory."""
    return f"sqlite:///{data_dir() / 'voiceobs.db'}"


def resolve(name: str, explicit: Any = None, default: Any = None) -> Any:
    """Resolve one setting by the documented precedence.

    ``name`` is the lower-case key (``db_url``); its env var is ``VOICEOBS_DB_URL``.
    """
    if explicit is not None:
        return explicit
    env = os.environ.get(f"VOICEOBS_{name.upper()}")
    if env:
        return env
    file_value = _file_settings().get(name)
    if file_value is not None:
        return file_value
    return default


@dataclass(frozen=True)
class Settings:
    """The resolved settings a command runs with; printed so users know which store is used."""

    db_url: str

    @classmethod
    def load(cls, db_url: str | None = None) -> Settings:
        """Resolve every setting once, at the edge (CLI, dashboard, tests)."""
        return cls(db_url=str(resolve("db_url", db_url, None) or default_db_url()))


__all__ = ["Settings", "config_path", "data_dir", "default_db_url", "resolve"]
