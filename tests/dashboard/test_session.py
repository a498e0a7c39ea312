"""Sign-in tokens of the dashboard cookie: signed, expiring, keyed from the data dir or a setting."""

from __future__ import annotations

import stat
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "dashboards"))

from dashkit import session

from voiceobs.errors import ConfigError

KEY = b"k" * 32


def test_a_signed_session_names_its_user_until_it_expires() -> None:
    token = session.sign("olivia", time.time() + 60, key=KEY)
    assert session.verify(token, key=KEY) == "olivia"
    assert session.verify(token, key=KEY, now=time.time() + 61) is None


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-1] + ("0" if t[-1] != "0" else "1"),  # the signature
        lambda t: "dmljdG9y" + t[t.index("."):],  # another user name (base64 "victor")
        lambda t: t.replace(t.split(".")[1], str(int(t.split(".")[1]) + 86400)),  # the expiry
        lambda t: t.rsplit(".", 1)[0],  # no signature
        lambda t: "",
        lambda t: "not a token",
    ],
)
def test_a_tampered_token_is_refused(tamper: object) -> None:
    token = session.sign("olivia", time.time() + 3600, key=KEY)
    assert session.verify(tamper(token), key=KEY) is None  # type: ignore[operator]


def test_a_token_signed_with_another_key_or_kind_is_refused() -> None:
    token = session.sign("olivia", time.time() + 60, key=KEY)
    assert session.verify(token, key=b"x" * 32) is None
    grant = session.sign("olivia", time.time() + 60, kind="grant", key=KEY)
    assert session.verify(grant, kind="grant", key=KEY) == "olivia"
    assert session.verify(grant, key=KEY) is None  # a grant is not a session
    assert session.verify(token, kind="grant", key=KEY) is None
    assert grant != session.sign("olivia", time.time() + 60, kind="grant", key=KEY)  # single use


def test_the_key_is_made_once_in_the_data_dir_with_owner_only_access(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOICEOBS_DATA_DIR", str(tmp_path / "data"))
    key = session.signing_key()
    path = tmp_path / "data" / session.KEY_FILE
    assert path.read_bytes() == key and len(key) == 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert session.signing_key() == key
    token = session.new_session("olivia")[0]
    path.unlink()  # a new key signs everyone out
    assert session.verify(token) is None


def test_the_key_and_lifetime_come_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICEOBS_DASHBOARD_SESSION_KEY", "a-configured-key")
    assert session.signing_key() == b"a-configured-key"
    monkeypatch.setenv("VOICEOBS_DASHBOARD_SESSION_TTL", "30m")
    assert session.session_ttl() == timedelta(minutes=30)
    token, ttl = session.new_session("olivia")
    assert ttl == 1800
    assert session.verify(token, now=time.time() + 1790) == "olivia"
    assert session.verify(token, now=time.time() + 1810) is None
    monkeypatch.delenv("VOICEOBS_DASHBOARD_SESSION_TTL")
    assert session.session_ttl() == timedelta(hours=12)


def test_a_bad_lifetime_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICEOBS_DASHBOARD_SESSION_TTL", "forever")
    with pytest.raises(ConfigError, match="dashboard_session_ttl 'forever' is not a duration"):
        session.session_ttl()
