"""Dashboard users: scrypt hashes, the users file, and `voiceobs users`."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from voiceobs.cli.users import users as users_cli
from voiceobs.errors import ConfigError
from voiceobs.users import (
    add_user,
    authenticate,
    hash_password,
    load_users,
    parse_users,
    remove_user,
    users_file,
    verify_password,
)


def test_hash_round_trip_and_salt() -> None:
    h1, h2 = hash_password("correct horse"), hash_password("correct horse")
    assert h1 != h2  # a fresh salt every time
    assert h1.startswith("scrypt$16384$8$1$")
    assert verify_password("correct horse", h1)
    assert not verify_password("correct horsE", h1)
    assert not verify_password("x", "not-a-hash")
    assert not verify_password("x", "scrypt$16384$8$1$!!!$!!!")


def test_file_is_private_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "users.toml"
    add_user("alice@example.com", "pw-1", "operator", path=path)
    add_user("bob", "pw-2", path=path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "pw-1" not in path.read_text()
    users = load_users(path)
    assert {u.name: u.role for u in users.values()} == {
        "alice@example.com": "operator",
        "bob": "viewer",
    }
    assert authenticate(users, "alice@example.com", "pw-1") == users["alice@example.com"]
    assert authenticate(users, "alice@example.com", "pw-2") is None
    assert authenticate(users, "nobody", "pw-1") is None
    with pytest.raises(ConfigError, match="already exists"):
        add_user("bob", "x", path=path)
    add_user("bob", "pw-3", "operator", path=path, replace=True)
    assert load_users(path)["bob"].is_operator
    remove_user("bob", path=path)
    assert set(load_users(path)) == {"alice@example.com"}
    with pytest.raises(ConfigError, match="no user 'bob'"):
        remove_user("bob", path=path)


def test_bad_input_is_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown role"):
        add_user("carol", "pw", "admin", path=tmp_path / "u.toml")
    with pytest.raises(ConfigError, match="invalid user name"):
        add_user('ca"rol', "pw", path=tmp_path / "u.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[users.x]\nrole = 'operator'\npassword_hash = 'plain'\n")
    with pytest.raises(ConfigError, match="voiceobs users add"):
        load_users(broken)
    with pytest.raises(ConfigError, match="role 'root'"):
        parse_users({"users": {"x": {"role": "root", "password_hash": "scrypt$"}}}, "secrets")


def test_location_follows_env_then_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICEOBS_CONFIG", str(tmp_path / "conf" / "config.toml"))
    assert users_file() == tmp_path / "conf" / "users.toml"
    monkeypatch.setenv("VOICEOBS_USERS_FILE", str(tmp_path / "elsewhere.toml"))
    assert users_file() == tmp_path / "elsewhere.toml"


def test_cli_add_list_remove(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "users.toml"
    monkeypatch.setenv("VOICEOBS_USERS_FILE", str(path))
    runner = CliRunner()
    result = runner.invoke(users_cli, ["list"])
    assert result.exit_code == 0 and "voiceobs users add" in result.output
    result = runner.invoke(
        users_cli, ["add", "olivia", "--role", "operator", "--password-stdin"], input="s3cret\n"
    )
    assert result.exit_code == 0, result.output
    assert authenticate(load_users(path), "olivia", "s3cret") is not None
    result = runner.invoke(users_cli, ["add", "vic"], input="pw\npw\n")  # interactive prompt
    assert result.exit_code == 0, result.output
    assert load_users(path)["vic"].role == "viewer"
    result = runner.invoke(users_cli, ["list"])
    assert "olivia\toperator" in result.output and "vic\tviewer" in result.output
    assert "scrypt" not in result.output
    assert runner.invoke(users_cli, ["remove", "vic"]).exit_code == 0
    assert set(load_users(path)) == {"olivia"}
    result = runner.invoke(users_cli, ["add", "x", "--password-stdin"], input="\n")
    assert result.exit_code != 0
