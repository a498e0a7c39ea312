"""`--workers`: a run's calls over several real processes, merged in spec order, recorded once."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import ServerProcess
from voiceobs.errors import ConfigError, FailureClass
from voiceobs.probe.runner import Share
from voiceobs.probe.spec import ProbeSpec
from voiceobs.probe.workers import HIGH_CONCURRENCY, cores, resolve_workers, run_spec_workers
from voiceobs.recording import record
from voiceobs.results import RunResult
from voiceobs.store import Store


@pytest.mark.parametrize(
    ("total", "concurrency", "of"), [(10, 10, 3), (7, 2, 2), (400, 400, 2), (5, 5, 5)]
)
def test_shares_deal_every_call_once_and_split_the_concurrency(
    total: int, concurrency: int, of: int
) -> None:
    shares = [Share(w, of) for w in range(of)]
    dealt = sorted(i for s in shares for i in s.calls(total))
    assert dealt == list(range(total))
    assert sum(s.concurrency(concurrency) for s in shares) == concurrency
    assert (
        max(s.concurrency(concurrency) for s in shares)
        - min(s.concurrency(concurrency) for s in shares)
        <= 1
    )


def test_auto_is_one_worker_per_core_from_high_concurrency(
    spec_for: Callable[..., ProbeSpec],
) -> None:
    spec = spec_for("ws://127.0.0.1:9/twilio")
    assert resolve_workers(spec.with_concurrency(HIGH_CONCURRENCY - 1)) == 1
    assert resolve_workers(spec.with_concurrency(HIGH_CONCURRENCY)) == min(
        cores(), HIGH_CONCURRENCY
    )
    assert resolve_workers(spec.with_concurrency(400), "auto") == cores()
    assert resolve_workers(spec.with_concurrency(4), "2") == 2


def test_workers_env_var_is_a_setting(
    spec_for: Callable[..., ProbeSpec], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = spec_for("ws://127.0.0.1:9/twilio").with_concurrency(8)
    monkeypatch.setenv("VOICEOBS_PROBE_WORKERS", "3")
    assert resolve_workers(spec) == 3
    assert resolve_workers(spec, 2) == 2  # the flag wins


@pytest.mark.parametrize(
    ("value", "needle"),
    [(0, "at least 1"), (-2, "at least 1"), ("many", "whole number or 'auto'"), (5, "at most 4")],
)
def test_bad_worker_counts_are_one_line_errors(
    spec_for: Callable[..., ProbeSpec], value: object, needle: str
) -> None:
    spec = spec_for("ws://127.0.0.1:9/twilio", calls=4, concurrency=4)
    with pytest.raises(ConfigError) as err:
        resolve_workers(spec, value)  # type: ignore[arg-type]
    assert needle in str(err.value) and "\n" not in str(err.value)


def _index(result: RunResult) -> int:
    [root] = [s for s in result.spans if s.name == "probe.run"]
    return int(root.attributes["voiceobs.call_index"])


@pytest.mark.slow
def test_two_workers_place_every_call_once_in_spec_order(
    echo_server: ServerProcess, spec_for: Callable[..., ProbeSpec], sqlite_url: str
) -> None:
    spec = spec_for(echo_server.url("twilio"), calls=6, concurrency=6)
    pids: list[int] = []
    ticks: list[tuple[int, int]] = []
    results = run_spec_workers(
        spec, 2, started=pids.extend, progress=lambda done, total, ok: ticks.append((done, total))
    )
    assert len(pids) == 2 and os.getpid() not in pids
    assert [_index(r) for r in results] == list(range(6))
    assert all(r.ok for r in results), [r.failure_detail for r in results]
    assert all(r.turns[0].pacing_error_p99_ms is not None for r in results)
    assert ticks[-1] == (6, 6) and len(ticks) == 6
    recorded = record(results, db_url=sqlite_url)
    store = Store.open(sqlite_url)
    try:
        assert store.count_runs() == 6
        assert {r.id for r in recorded.results} == {run.id for run in store.list_runs(limit=100)}
    finally:
        store.close()


@pytest.mark.slow
def test_a_dead_workers_calls_are_failed_results_never_lost_or_doubled(
    echo_server: ServerProcess, spec_for: Callable[..., ProbeSpec], sqlite_url: str
) -> None:
    spec = spec_for(echo_server.url("twilio"), calls=4, concurrency=4)

    def kill_second(pids: list[int]) -> None:
        os.kill(pids[1], signal.SIGKILL)

    results = run_spec_workers(spec, 2, started=kill_second)
    assert len(results) == 4
    lost = [i for i, r in enumerate(results) if r.failure_class == FailureClass.WORKER_LOST.value]
    assert lost == [1, 3]  # the second worker's share, in spec order
    for i in lost:
        assert "SIGKILL" in (results[i].failure_detail or "")
        assert results[i].status == "failed" and all(not t.ok for t in results[i].turns)
    assert all(results[i].ok for i in (0, 2)), [r.failure_detail for r in results]
    record(results, db_url=sqlite_url)
    store = Store.open(sqlite_url)
    try:
        assert store.count_runs() == 4
        stored = {run.id: run for run in store.list_runs(limit=100)}
        assert sorted(run.failure_class or "" for run in stored.values()) == [
            "",
            "",
            "worker_lost",
            "worker_lost",
        ]
    finally:
        store.close()


def test_a_cgroup_cpu_quota_caps_the_cores(tmp_path: Path) -> None:
    from voiceobs.probe.workers import _cgroup_cpus

    quota = tmp_path / "cpu.max"
    quota.write_text("150000 100000\n")
    assert _cgroup_cpus(quota) == 2
    quota.write_text("max 100000\n")
    assert _cgroup_cpus(quota) is None
    assert _cgroup_cpus(tmp_path / "absent") is None


def test_a_spec_every_worker_refuses_is_the_error_one_process_raises(
    spec_for: Callable[..., ProbeSpec], tmp_path: Path
) -> None:
    from voiceobs.errors import AudioError, VoiceObsError

    missing = tmp_path / "missing.wav"
    spec = spec_for(
        "ws://127.0.0.1:9/twilio",
        calls=2,
        concurrency=2,
        turns=[{"wav": str(missing), "reference": "prompt"}],
    )
    with pytest.raises(VoiceObsError) as err:
        run_spec_workers(spec, 2)
    with pytest.raises(AudioError) as alone:
        import asyncio

        from voiceobs.probe.runner import run_spec_async

        asyncio.run(run_spec_async(spec))
    assert str(err.value) == str(alone.value) and err.value.exit_code == alone.value.exit_code
