"""Dashboard users: names, roles and scrypt password hashes, kept in a small TOML file.

The dashboard shows call traces and lets operators resolve incidents, so it
is never open by default. Passwords are stored only as scrypt hashes
(``hashlib.scrypt``: memory-hard, in the standard library, nothing to
install) and compared in constant time. The file is TOML with one table per
user, the same shape Streamlit secrets use, so a deployment can put the
users in ``.streamlit/secrets.toml`` instead::

    [users.alice]
    role = "operator"
    password_hash = "scrypt$16384$8$1$<salt>$<hash>"

Where the file lives: ``VOICEOBS_USERS_FILE`` > ``users_file`` in the config
file > ``users.toml`` beside the config file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voiceobs.config import config_path, resolve
from voiceobs.errors import ConfigError

#: Viewers read everything; operators may also act on incidents.
ROLES: tuple[str, ...] = ("viewer", "operator")

# OWASP's scrypt minimum (N=2^17 is stronger but costs 128 MiB per sign-in on a shared host).
_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 1
_KEY_LEN = 32
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$")
#: Compared against when a name is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = (
    "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
)


#: The shortest password ``add_user`` accepts (NIST SP 800-63B asks for at least 8; a
#: dashboard that can resolve incidents and trigger failover warrants more).
MIN_PASSWORD_LENGTH = 12
#: Passwords long enough to pass the length rule that are still among the first guesses
#: of any password list; compared case-insensitively.
_COMMON_PASSWORDS = frozenset(
    {
        "000000000000", "111111111111", "123123123123", "123456789012", "1234567890123",
        "12345678901234", "123456789abc", "1q2w3e4r5t6y", "1qaz2wsx3edc", "abc123456789",
        "abcd12345678", "abcdefghijkl", "administrator", "admin1234567", "adminadmin123",
        "asdfasdfasdf", "asdfghjkl123", "baseball1234", "changeme1234", "changemechangeme",
        "correcthorsebatterystaple", "dragon123456", "football1234", "iloveyou1234", "letmein12345",
        "monkey123456", "password1234", "password12345", "password123456", "password!123",
        "passw0rd1234", "passwordpassword", "princess1234", "qazwsxedcrfv", "qwerty123456",
        "qwertyqwerty", "qwertyuiop12", "qwertyuiop123", "qwertyuiopasdf", "starwars1234",
        "sunshine1234", "superman1234", "trustno1trustno1", "voiceobs1234", "voiceobsvoiceobs",
        "welcome12345", "zaq12wsxcde3", "zxcvbnm12345",
    }
)


@dataclass(frozen=True)
class User:
    """A person who may sign in to the dashboard."""

    name: str
    role: str
    password_hash: str = ""

    @property
    def is_operator(self) -> bool:
        """Only operators acknowledge, resolve and trigger hooks."""
        return self.role == "operator"


def users_file() -> Path:
    """The users file this process reads and writes (it need not exist yet)."""
    configured = resolve("users_file", None, None)
    if configured:
        return Path(str(configured)).expanduser()
    return config_path().parent / "users.toml"


def hash_password(password: str) -> str:
    """An scrypt hash with a fresh random salt, in a self-describing string."""
    if not password:
        raise ConfigError("the password is empty; choose a non-empty password")
    salt = secrets.token_bytes(16)
    key = _scrypt(password, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    return "$".join(
        [
            "scrypt",
            str(_SCRYPT_N),
            str(_SCRYPT_R),
            str(_SCRYPT_P),
            base64.b64encode(salt).decode(),
            base64.b64encode(key).decode(),
        ]
    )


def verify_password(password: str, password_hash: str) -> bool:
    """True when ``password`` matches; a malformed hash never matches (and never raises)."""
    try:
        scheme, n, r, p, salt_b64, key_b64 = password_hash.split("$")
        if scheme != "scrypt":
            return False
        salt = base64.b64decode(salt_b64, validate=True)
        expected = base64.b64decode(key_b64, validate=True)
        actual = _scrypt(password, salt, int(n), int(r), int(p), len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int = _KEY_LEN) -> bytes:
    maxmem = 128 * r * (n + p + 2) + 1024 * 1024
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=maxmem
    )


def parse_users(data: Mapping[str, Any], source: str) -> dict[str, User]:
    """Users from a parsed ``[users.NAME]`` mapping (file or Streamlit secrets)."""
    table = data.get("users", {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"{source}: 'users' must be a table of [users.NAME] entries")
    users: dict[str, User] = {}
    for name, entry in table.items():
        if not isinstance(entry, Mapping):
            raise ConfigError(
                f"{source}: [users.{name}] must be a table with role and password_hash"
            )
        role = str(entry.get("role", "viewer"))
        if role not in ROLES:
            raise ConfigError(
                f"{source}: [users.{name}] role {role!r} is unknown; use one of {', '.join(ROLES)}"
            )
        password_hash = str(entry.get("password_hash", ""))
        if not password_hash.startswith("scrypt$"):
            raise ConfigError(
                f"{source}: [users.{name}] needs a password_hash made by `voiceobs users add`"
            )
        users[str(name)] = User(name=str(name), role=role, password_hash=password_hash)
    return users


def load_users(path: Path | None = None) -> dict[str, User]:
    """Every user in the users file; an absent file means no users yet (not an error)."""
    path = path or users_file()
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read users file {path}: {exc}; fix or remove it") from exc
    return parse_users(data, str(path))


def save_users(users: Mapping[str, User], path: Path | None = None) -> Path:
    """Write the users file atomically, readable only by its owner (it holds hashes)."""
    path = path or users_file()
    lines = ["# voiceobs dashboard users; manage with `voiceobs users add/remove`.", ""]
    for user in sorted(users.values(), key=lambda u: u.name):
        lines += [
            f'[users."{user.name}"]',
            f'role = "{user.role}"',
            f'password_hash = "{user.password_hash}"',
            "",
        ]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines))
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(
            f"cannot write users file {path}: {exc.strerror}; set VOICEOBS_USERS_FILE "
            "to a writable place"
        ) from exc
    return path


def check_name(name: str) -> str:
    """Refuse names that would be ambiguous in the file or in audit records."""
    if not _NAME_RE.match(name):
        raise ConfigError(
            f"invalid user name {name!r}; use letters, digits and . _ @ + - (up to 100)"
        )
    return name


def check_password(name: str, password: str) -> str:
    """Refuse a password a guesser would try first: why, in one line, and what to choose.

    The rule: at least ``MIN_PASSWORD_LENGTH`` characters, not one character
    repeated, not a common password, and not the user name (or its part
    before ``@``). A passphrase of three or four words passes all of these.
    """
    if not password:
        raise ConfigError("the password is empty; choose a non-empty password")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigError(
            f"the password has {len(password)} characters; use at least {MIN_PASSWORD_LENGTH} "
            "(a few words make a good one)"
        )
    folded = password.strip().casefold()
    if len(set(folded)) == 1:
        raise ConfigError("the password is one character repeated; choose another")
    if folded in _COMMON_PASSWORDS:
        raise ConfigError("the password is one of the most common passwords; choose another")
    if folded in {name.strip().casefold(), name.strip().split("@")[0].casefold()}:
        raise ConfigError("the password is the user name; choose another")
    return password


def add_user(
    name: str,
    password: str,
    role: str = "viewer",
    *,
    path: Path | None = None,
    replace: bool = False,
) -> User:
    """Add (or with ``replace``, update) a user; returns the stored user.

    The password must pass ``check_password``: the only copy of it that
    matters is in the user's head, so a weak one is refused here, once.
    """
    check_name(name)
    check_password(name, password)
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    users = load_users(path)
    if name in users and not replace:
        raise ConfigError(f"user {name!r} already exists; pass --replace to change it")
    user = User(name=name, role=role, password_hash=hash_password(password))
    users[name] = user
    save_users(users, path)
    return user


def remove_user(name: str, *, path: Path | None = None) -> None:
    """Remove a user; an unknown name is an error so typos are noticed."""
    users = load_users(path)
    if name not in users:
        raise ConfigError(f"no user {name!r} in {path or users_file()}")
    del users[name]
    save_users(users, path)


def authenticate(users: Mapping[str, User], name: str, password: str) -> User | None:
    """The user when name and password match, else None, in about the same time either way."""
    user = users.get(name.strip())
    if user is None:
        verify_password(password, _DUMMY_HASH)
        return None
    return user if verify_password(password, user.password_hash) else None


__all__ = [
    "MIN_PASSWORD_LENGTH",
    "ROLES",
    "User",
    "add_user",
    "authenticate",
    "check_name",
    "check_password",
    "hash_password",
    "load_users",
    "parse_users",
    "remove_user",
    "save_users",
    "users_file",
    "verify_password",
]
