"""Sign-in throttling: backoff per user and per client, shared through a real SQLite file."""

from __future__ import annotations

import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from voiceobs.signin import SignInThrottle, ThrottlePolicy, sign_in, throttle_file
from voiceobs.users import User, add_user, load_users

PASSWORD = "olivia-pass-phrase"


class Clock:
    """Wall time that moves only when the test says so."""

    def __init__(self, at: float = 1_800_000_000.0) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


@pytest.fixture
def users(tmp_path: Path) -> dict[str, User]:
    path = tmp_path / "users.toml"
    add_user("olivia", PASSWORD, "operator", path=path)
    add_user("victor", "victor-pass-phrase", "viewer", path=path)
    return load_users(path)


def test_fifteen_wrong_passwords_then_the_right_one_is_refused(users: dict[str, User], tmp_path: Path) -> None:
    clock = Clock()
    throttle = SignInThrottle(tmp_path / "t.db", clock=clock)
    results = [sign_in(users, "olivia", f"wrong-{i}", "203.0.113.7", throttle=throttle) for i in range(15)]
    assert all(r.user is None for r in results)
    # Three tries for typos; the third failure locks for 2 s and the rest are refused unchecked.
    assert [r.refused for r in results] == [False] * 3 + [True] * 12
    right = sign_in(users, "olivia", PASSWORD, "203.0.113.7", throttle=throttle)
    assert right.user is None and right.refused
    assert right.retry_after_s == pytest.approx(2.0)
    assert right.message().startswith("Too many failed sign-ins for this user or from this address; try again in 2 s (at ")
    clock.at += 2.0
    after = sign_in(users, "olivia", PASSWORD, "203.0.113.7", throttle=throttle)
    assert after.user is not None and after.user.name == "olivia"
    # A success clears the count: the next mistake is a typo again, not a lock.
    assert sign_in(users, "olivia", "typo", "203.0.113.7", throttle=throttle).retry_after_s == 0


def test_each_further_failure_doubles_the_lock_up_to_the_cap(users: dict[str, User], tmp_path: Path) -> None:
    clock = Clock()
    policy = ThrottlePolicy(free_failures=3, base_s=2.0, max_s=60.0)
    throttle = SignInThrottle(tmp_path / "t.db", policy=policy, clock=clock)
    locks = []
    for i in range(9):
        r = sign_in(users, "olivia", f"wrong-{i}", f"198.51.100.{i}", throttle=throttle)
        assert not r.refused  # each try waits out the previous lock
        locks.append(r.retry_after_s)
        clock.at += r.retry_after_s
    assert locks == [0, 0, 2, 4, 8, 16, 32, 60, 60]
    assert "Wrong user name or password. Too many failures: try again in 60 s" in r.message()


def test_a_client_guessing_across_names_is_locked_for_every_name(users: dict[str, User], tmp_path: Path) -> None:
    throttle = SignInThrottle(tmp_path / "t.db", clock=Clock())
    for name in ("alice", "bob", "carol"):  # unknown names count too: no hint who exists
        assert not sign_in(users, name, "guess-guess-guess", "203.0.113.9", throttle=throttle).refused
    locked = sign_in(users, "victor", "victor-pass-phrase", "203.0.113.9", throttle=throttle)
    assert locked.refused and locked.user is None
    # Another client signs in to that name at once: only the guessing client is locked.
    other = sign_in(users, "victor", "victor-pass-phrase", "192.0.2.44", throttle=throttle)
    assert other.user is not None


def test_a_locked_user_is_locked_from_every_client(users: dict[str, User], tmp_path: Path) -> None:
    throttle = SignInThrottle(tmp_path / "t.db", clock=Clock())
    for i in range(3):
        sign_in(users, "Olivia ", "wrong-wrong", f"192.0.2.{i}", throttle=throttle)  # case and spaces fold
    r = sign_in(users, "olivia", PASSWORD, "192.0.2.200", throttle=throttle)
    assert r.refused and r.user is None


def test_failures_are_forgotten_after_a_quiet_hour(users: dict[str, User], tmp_path: Path) -> None:
    clock = Clock()
    throttle = SignInThrottle(tmp_path / "t.db", clock=clock)
    for _ in range(3):
        sign_in(users, "olivia", "wrong-wrong", "192.0.2.1", throttle=throttle)
    clock.at += 3601
    r = sign_in(users, "olivia", "wrong-again", "192.0.2.1", throttle=throttle)
    assert not r.refused and r.retry_after_s == 0  # the first failure of a new series


def test_the_file_keeps_only_digests_and_is_private(users: dict[str, User], tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    sign_in(users, "olivia.secret-name", "wrong-wrong", "203.0.113.77", throttle=SignInThrottle(path))
    raw = path.read_bytes()
    assert b"olivia.secret-name" not in raw and b"203.0.113.77" not in raw
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert throttle_file().parent == Path(os.environ["VOICEOBS_DATA_DIR"])


def _fail_once(path: str, name: str) -> None:
    SignInThrottle(Path(path)).begin_attempt([name])


def test_counts_are_shared_across_processes(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    ctx = multiprocessing.get_context("spawn")  # separate interpreters, like two dashboard replicas
    for _ in range(3):
        p = ctx.Process(target=_fail_once, args=(str(path), "user:x"))
        p.start()
        p.join(60)
        assert p.exitcode == 0
    assert SignInThrottle(path).begin_attempt(["user:x"]) > 0  # locked by the other processes' failures


def _burst(path: str, start: multiprocessing.synchronize.Event, out: multiprocessing.Queue[float]) -> None:
    start.wait(30)
    out.put(SignInThrottle(Path(path)).begin_attempt(["user:burst"]))


def test_a_parallel_burst_gets_only_the_free_attempts(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    SignInThrottle(path).locked_for(["user:burst"])  # create the file before the race
    ctx = multiprocessing.get_context("fork")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_burst, args=(str(path), start, out)) for _ in range(8)]
    for p in procs:
        p.start()
    start.set()
    waits = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
    # Only three attempts reach a password check, however many arrive together.
    assert sum(1 for w in waits if w == 0) == 3


def test_an_unwritable_data_dir_still_throttles_in_memory(
    users: dict[str, User], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the data dir should be")
    throttle = SignInThrottle(blocked / "t.db", clock=Clock())
    for _ in range(3):
        sign_in(users, "victor", "wrong-wrong", "192.0.2.5", throttle=throttle)
    r = sign_in(users, "victor", "victor-pass-phrase", "192.0.2.5", throttle=throttle)
    assert r.refused
    assert "keeping them in this process only" in caplog.text
