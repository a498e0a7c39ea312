"""The CLI as a user runs it: a real subprocess, real stores, one-line errors, exit codes."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from tests.helpers import assert_one_line_error, voiceobs
from voiceobs.store import Store


def test_help_lists_existing_command_groups() -> None:
    proc = voiceobs("--help")
    assert proc.returncode == 0
    assert "db " in proc.stdout and "version" in proc.stdout


def test_version() -> None:
    proc = voiceobs("version")
    assert proc.returncode == 0
    assert proc.stdout.startswith("voiceobs ")


def test_upgrade_then_status_on_default_store(tmp_path: Path) -> None:
    env = {"VOICEOBS_DATA_DIR": str(tmp_path / "data")}
    up = voiceobs("db", "upgrade", env=env)
    assert up.returncode == 0, up.stderr
    # The CLI always says which store it used.
    assert str(tmp_path / "data" / "voiceobs.db") in up.stdout
    again = voiceobs("db", "upgrade", env=env)
    assert "already up to date" in again.stdout
    st = voiceobs("db", "status", env=env)
    assert st.returncode == 0
    assert "probe_runs" in st.stdout and "up to date" in st.stdout
    cur = voiceobs("db", "current", env=env)
    assert "(head)" in cur.stdout


def test_env_var_overrides_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'db_url = "sqlite:///{tmp_path / "from-file.db"}"\n')
    env = {"VOICEOBS_CONFIG": str(cfg)}
    assert str(tmp_path / "from-file.db") in voiceobs("db", "upgrade", env=env).stdout
    env["VOICEOBS_DB_URL"] = f"sqlite:///{tmp_path / 'from-env.db'}"
    assert str(tmp_path / "from-env.db") in voiceobs("db", "upgrade", env=env).stdout
    flag = voiceobs("db", "upgrade", "--db", f"sqlite:///{tmp_path / 'from-flag.db'}", env=env)
    assert str(tmp_path / "from-flag.db") in flag.stdout


def test_wrong_url_is_one_line_error() -> None:
    assert_one_line_error(
        voiceobs("db", "status", "--db", "mysqlx://nope"), "unsupported database URL"
    )
    assert_one_line_error(voiceobs("db", "status", "--db", "::::"), "invalid database URL")


def test_unreachable_database_is_one_line_error() -> None:
    proc = voiceobs("db", "upgrade", "--db", "postgresql://nobody:secret@127.0.0.1:9/voiceobs")
    assert_one_line_error(proc, "cannot use the store", "127.0.0.1")
    assert "secret" not in proc.stderr, "passwords are never printed"


def test_store_from_newer_schema_is_one_line_error(sqlite_url: str) -> None:
    store = Store.open(sqlite_url, create=True)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'ffff_future'"))
    store.close()
    assert_one_line_error(voiceobs("db", "status", "--db", sqlite_url), "newer than this voiceobs")
    assert_one_line_error(voiceobs("db", "upgrade", "--db", sqlite_url), "newer than this voiceobs")


def test_empty_store_status_says_how_to_create_it(sqlite_url: str) -> None:
    proc = voiceobs("db", "status", "--db", sqlite_url)
    assert proc.returncode == 2
    assert "voiceobs db upgrade" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_config_file_is_one_line_error(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text("db_url = [unterminated\n")
    assert_one_line_error(voiceobs("db", "status", env={"VOICEOBS_CONFIG": str(cfg)}), str(cfg))
