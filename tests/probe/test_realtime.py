"""The pacing thread's real-time priority: granted when allowed, nested safely, always restored."""

from __future__ import annotations

import os
import threading

import pytest

from voiceobs.probe.realtime import realtime_scheduling


def _policy() -> int:
    return os.sched_getscheduler(0) & ~getattr(os, "SCHED_RESET_ON_FORK", 0x40000000)


def _can_raise() -> bool:
    try:
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(1))
    except OSError:
        return False
    os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    return True


def test_nested_blocks_keep_the_raise_and_the_outer_one_restores() -> None:
    before = _policy()
    with realtime_scheduling() as outer:
        with realtime_scheduling() as inner:
            assert inner == outer
            if outer:
                assert _policy() == os.SCHED_RR
        if outer:
            assert _policy() == os.SCHED_RR, "leaving the inner block must not drop the outer raise"
    assert _policy() == before


def test_threads_started_inside_do_not_inherit_it() -> None:
    if not _can_raise():
        pytest.skip("this host does not allow real-time scheduling")
    seen: list[int] = []
    with realtime_scheduling() as granted:
        assert granted
        t = threading.Thread(target=lambda: seen.append(_policy()))
        t.start()
        t.join()
    assert seen == [os.SCHED_OTHER]


def test_off_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICEOBS_REALTIME", "off")
    with realtime_scheduling() as granted:
        assert granted is False
        assert _policy() == os.SCHED_OTHER


def test_refused_privilege_is_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    with realtime_scheduling() as granted:
        assert granted is False
