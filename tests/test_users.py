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
    add_user("alice@example.com", "alice-pass-phrase-1", "operator", path=path)
    add_user("bob", "bob-pass-phrase-2", path=path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "alice-pass-phrase-1" not in path.read_text()
    users = load_users(path)
    assert {u.name: u.role for u in users.values()} == {
        "alice@example.com": "operator",
        "bob": "viewer",
    }
    assert authenticate(users, "alice@example.com", "alice-pass-phrase-1") == users["alice@example.com"]
    assert authenticate(users, "alice@example.com", "bob-pass-phrase-2") is None
    assert authenticate(users, "nobody", "alice-pass-phrase-1") is None
    with pytest.raises(ConfigError, match="already exists"):
        add_user("bob", "another-pass-phrase", path=path)
    add_user("bob", "bob-pass-phrase-3", "operator", path=path, replace=True)
    assert load_users(path)["bob"].is_operator
    remove_user("bob", path=path)
    assert set(load_users(path)) == {"alice@example.com"}
    with pytest.raises(ConfigError, match="no user 'bob'"):
        remove_user("bob", path=path)


def test_bad_input_is_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown role"):
        add_user("carol", "carol-pass-phrase", "admin", path=tmp_path / "u.toml")
    with pytest.raises(ConfigError, match="invalid user name"):
        add_user('ca"rol', "carol-pass-phrase", path=tmp_path / "u.toml")
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
        users_cli, ["add", "olivia", "--role", "operator", "--password-stdin"], input="olivia-pass-phrase\n"
    )
    assert result.exit_code == 0, result.output
    assert authenticate(load_users(path), "olivia", "olivia-pass-phrase") is not None
    result = runner.invoke(users_cli, ["add", "vic"], input="vic-pass-phrase\nvic-pass-phrase\n")  # interactive prompt
    assert result.exit_code == 0, result.output
    assert load_users(path)["vic"].role == "viewer"
    result = runner.invoke(users_cli, ["list"])
    assert "olivia\toperator" in result.output and "vic\tviewer" in result.output
    assert "scrypt" not in result.output
    assert runner.invoke(users_cli, ["remove", "vic"]).exit_code == 0
    assert set(load_users(path)) == {"olivia"}
    result = runner.invoke(users_cli, ["add", "x", "--password-stdin"], input="\n")
    assert result.exit_code != 0


@pytest.mark.parametrize(
    ("name", "password", "why"),
    [
        ("dana", "abc", "has 3 characters; use at least 12"),
        ("dana", "elevenchars", "has 11 characters; use at least 12"),
        ("dana", "Password1234", "most common passwords"),
        ("dana", "zzzzzzzzzzzzzz", "one character repeated"),
        ("dana.smith@example.com", "Dana.Smith@example.com", "is the user name"),
        ("dana.smith.long@example.com", "dana.smith.long", "is the user name"),
    ],
)
def test_weak_passwords_are_refused_before_anything_is_written(
    tmp_path: Path, name: str, password: str, why: str
) -> None:
    path = tmp_path / "users.toml"
    with pytest.raises(ConfigError, match=why):
        add_user(name, password, path=path)
    assert not path.exists()


def test_users_add_refuses_a_weak_password_in_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "users.toml"
    proc = subprocess.run(
        [sys.executable, "-m", "voiceobs.cli.main", "users", "add", "erin", "--password-stdin", "--file", str(path)],
        input="abc\n", capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: the password has 3 characters; use at least 12 (a few words make a good one)"
    assert not path.exists()
    ok = subprocess.run(
        [sys.executable, "-m", "voiceobs.cli.main", "users", "add", "erin", "--password-stdin", "--file", str(path)],
        input="four words make one\n", capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert authenticate(load_users(path), "erin", "four words make one") is not None
