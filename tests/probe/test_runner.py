"""run_spec end to end: results and spans in the store, spool when the store is down, the lock."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.probe.conftest import ServerProcess
from voiceobs.probe import RunLocked, run_spec
from voiceobs.probe.lock import spec_lock
from voiceobs.probe.spec import ProbeSpec
from voiceobs.store import Store
from voiceobs.store.spool import Spool


@pytest.mark.slow
def test_results_and_spans_saved_together(
    echo_server: ServerProcess, spec_for: Callable[..., ProbeSpec], sqlite_url: str
) -> None:
    spec = spec_for(echo_server.url("twilio"), calls=2, concurrency=2, metrics=["stoi"])
    results = run_spec(spec, db_url=sqlite_url)
    assert len(results) == 2 and all(r.ok for r in results)
    store = Store.open(sqlite_url)
    try:
        assert store.count_runs() == 2
        for r in results:
            row = store.get_run(r.id)
            assert row is not None and row.status == "ok"
            assert row.turns[0].path_delay_ms is not None
            spans = store.spans_for_run(r.id)
            names = [s.name for s in spans]
            assert names.count("probe.run") == 1 and "score" in names and "send" in names
            # one trace per call: every span shares the run's trace id
            assert {s.trace_id for s in spans if s.run_id == r.id} == {r.trace_id}
    finally:
        store.close()


@pytest.mark.slow
def test_store_down_spools_then_replays(
    echo_server: ServerProcess, spec_for: Callable[..., ProbeSpec], tmp_path: Path
) -> None:
    spec = spec_for(echo_server.url("twilio"))
    down = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"
    first = run_spec(spec, db_url=down)
    assert len(first) == 1
    spooled = Spool().pending()
    assert len(spooled) == 1 and first[0].id in spooled[0].name
    url = f"sqlite:///{tmp_path / 'back.db'}"
    second = run_spec(spec, db_url=url)
    assert Spool().pending() == []
    store = Store.open(url)
    try:
        assert store.count_runs() == 2
        assert store.get_run(first[0].id) is not None
        assert store.get_run(second[0].id) is not None
        # the spooled run kept its spans
        assert any(s.name == "probe.run" for s in store.spans_for_run(first[0].id))
    finally:
        store.close()


def test_spool_replay_is_idempotent(tmp_path: Path, sqlite_url: str) -> None:
    from voiceobs.results import RunResult, TurnResult, utcnow

    run = RunResult(probe_name="p", target_url="ws://x", started_at=utcnow(), turns=[TurnResult(0, ttfb_ms=12.5)])
    spool = Spool(tmp_path / "spool")
    path = spool.write(run)
    assert path.exists() and not list((tmp_path / "spool").glob(".tmp-*"))
    (tmp_path / "spool" / "20000101T000000-garbage.json").write_text("{not json")
    store = Store.open(sqlite_url, create=True)
    try:
        store.save_run(run)  # already stored once (a crash after saving, before unlinking)
        assert spool.replay(store.save_run) == 1
        assert store.count_runs() == 1
        assert spool.pending() == []
        assert (tmp_path / "spool" / "bad" / "20000101T000000-garbage.json").exists()
    finally:
        store.close()


def _hold_lock(name: str, ready: multiprocessing.synchronize.Event, release: multiprocessing.synchronize.Event) -> None:
    with spec_lock(name, "x.yaml"):
        ready.set()
        release.wait(10)


def test_lock_stops_an_overlapping_run(spec_for: Callable[..., ProbeSpec]) -> None:
    spec = spec_for("ws://127.0.0.1:9/twilio")
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(spec.name, ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        start = time.monotonic()
        with pytest.raises(RunLocked, match="still in progress") as info, spec_lock(spec.name, "x.yaml"):
            pass
        assert time.monotonic() - start < 1.0
        assert info.value.exit_code == 1
    finally:
        release.set()
        holder.join(10)
    # released when the holder exits: the next run takes it
    with spec_lock(spec.name, "x.yaml"):
        pass


@pytest.mark.slow
def test_a_keyword_miss_with_a_high_wer_says_the_transcript_may_be_at_fault(
    echo_server: ServerProcess, spec_for: Callable[..., ProbeSpec]
) -> None:
    """The echo bot repeats the prompt, so the expected farewell is never heard."""
    turn = {
        "prompt": "Hello there.",
        "end_silence_ms": 300,
        "expect": {"keywords": ["goodbye"], "text": "Thank you for calling. Goodbye!"},
    }
    spec = spec_for(echo_server.url("twilio"), turns=[turn], voice="hibari")
    (result,) = run_spec(spec, save=False)
    assert result.failure_class == "quality_error"
    detail = result.failure_detail or ""
    assert detail.startswith("none of the expected keywords goodbye was heard in turn 1;")
    assert "the transcript may be at fault rather than the bot" in detail
    assert result.turns[0].wer is not None and result.turns[0].wer >= 0.5


@pytest.fixture(scope="module")
def agent_server() -> Iterator[ServerProcess]:
    server = ServerProcess("agent")
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.slow
def test_a_keyword_miss_on_a_wrong_intent_blames_the_bot(
    agent_server: ServerProcess, spec_for: Callable[..., ProbeSpec]
) -> None:
    """The agent names the intent it answered; a wrong one is not passed off as an ASR miss."""
    turn = {
        "prompt": "Please cancel my order.",
        "end_silence_ms": 600,
        "expect": {
            "intent": "balance",
            "keywords": ["balance"],
            "text": "Your account balance is one hundred and twenty dollars.",
        },
    }
    spec = spec_for(
        agent_server.url("twilio"), turns=[turn], voice="hibari", pipeline="agent",
        timeouts={"connect_s": 5, "first_audio_s": 8, "call_s": 30},
    )  # fmt: skip
    (result,) = run_spec(spec, save=False)
    assert result.failure_class == "quality_error"
    detail = result.failure_detail or ""
    assert detail.startswith("none of the expected keywords balance was heard in turn 1;")
    assert "answered another intent" in detail and "may be at fault" not in detail
