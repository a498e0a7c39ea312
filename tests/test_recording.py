"""The recording path: every result is redacted, then stored or spooled, then pushed; none is lost."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from tests.helpers import ServerProcess
from voiceobs.cli.main import main
from voiceobs.errors import ResultsLost
from voiceobs.metrics import StoreCollector
from voiceobs.probe.spec import ProbeSpec
from voiceobs.recording import record, run_spec
from voiceobs.results import RunResult, SpanRecord, TurnResult, utcnow
from voiceobs.store import Store
from voiceobs.store.spool import Spool

DOWN = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"
PII = ("jane.doe@example.com", "4111111111111111", "415 555 0132", "SECRETTOKEN123", "hunter2pass")


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


def _dirty_run() -> RunResult:
    run = RunResult(
        probe_name="p",
        target_url=(
            "wss://bot:hunter2pass@127.0.0.1:9/twilio"
            "?email=jane.doe@example.com&card=4111111111111111&token=SECRETTOKEN123"
        ),
        started_at=utcnow(),
        labels={"caller": "415 555 0132"},
        status="failed",
        failure_detail="target said: call jane.doe@example.com back",
    )
    run.turns.append(TurnResult(0, transcript="my card is 4111111111111111", expected_text="ok"))
    run.spans.append(
        SpanRecord("a" * 32, "b" * 16, "turn", 1, 2, run_id=run.id,
                   attributes={"text": "email jane.doe@example.com"},
                   events=[{"name": "heard", "attributes": {"t": "415 555 0132"}}],
                   status_message="card 4111111111111111")
    )
    return run


def _no_pii(text: str) -> None:
    for item in PII:
        assert item not in text


def test_record_redacts_before_the_store(sqlite_url: str) -> None:
    store = Store.open(sqlite_url, create=True)
    try:
        out = record([_dirty_run()], store=store)
        assert out.saved is not None and out.saved.saved == 1
        run_id = out.results[0].id
        row = store.get_run(run_id)
        assert row is not None
        stored = json.dumps(
            [row.target_url, row.labels, row.failure_detail, row.turns[0].transcript,
             row.turns[0].target_url]
            + [[s.name, s.attributes, s.events, s.status_message] for s in store.spans_for_run(run_id)],
            default=str,
        )  # fmt: skip
        _no_pii(stored)
        assert "[EMAIL]" in stored and "[CARD]" in stored and "token=[SECRET]" in stored
        # The target stays readable where it identifies nobody: scheme, host, port, path.
        assert row.target_url.startswith("wss://bot:[SECRET]@127.0.0.1:9/twilio?")
        # What `voiceobs metrics serve` exports comes from the store, so its labels are clean too.
        registry = CollectorRegistry()
        registry.register(StoreCollector(store, min_interval_s=0))
        exported = generate_latest(registry).decode()
        assert "127.0.0.1:9/twilio" in exported
        _no_pii(exported)
    finally:
        store.close()


@pytest.mark.slow
def test_record_redacts_what_it_pushes(pushgateway: str) -> None:
    out = record([_dirty_run()], save=False, pushgateway=pushgateway)
    assert out.pushed is True
    exported = httpx.get(f"{pushgateway}/metrics", timeout=5).text
    assert "voiceobs_probe_success" in exported and "127.0.0.1:9/twilio" in exported
    _no_pii(exported)


def test_record_redacts_before_the_spool(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    out = record([_dirty_run()], db_url=DOWN, spool=spool)
    assert out.saved is not None and out.saved.spooled == 1
    [path] = spool.pending()
    _no_pii(path.read_text())


def test_results_neither_stored_nor_spooled_are_raised_with_the_results(tmp_path: Path) -> None:
    blocker = tmp_path / "spool"
    blocker.write_text("x")
    with pytest.raises(ResultsLost) as info:
        record([_dirty_run()], db_url=DOWN, spool=Spool(blocker))
    assert len(info.value.lost) == 1
    _no_pii(json.dumps(info.value.lost[0].to_json(), default=str))


@pytest.mark.slow
def test_cli_prints_what_it_could_not_keep_and_exits_2(
    echo_server: ServerProcess,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "spool").write_text("a file where the spool directory should be")
    monkeypatch.setenv("VOICEOBS_DATA_DIR", str(data))
    spec = tmp_path / "echo.yaml"
    spec.write_text(
        "version: voiceobs/v1\nname: lost-echo\n"
        f"target: {echo_server.url('twilio')}\n"
        "timeouts: {connect_s: 3, first_audio_s: 2, call_s: 20}\n"
        "turns: [{prompt: Hello there., reference: prompt, end_silence_ms: 300}]\n"
    )
    with pytest.raises(SystemExit) as info:
        main(["probe", "run", str(spec), "--db", DOWN])
    assert info.value.code == 2
    captured = capsys.readouterr()
    [line] = captured.out.strip().splitlines()
    assert json.loads(line)["probe_name"] == "lost-echo"
    err = captured.err.strip()
    assert err.startswith("error: 1 result(s) could not be stored or spooled")
    assert len(err.splitlines()) == 1


def test_recording_joins_a_call_with_the_bot_s_record_of_it(sqlite_url: str) -> None:
    store = Store.open(sqlite_url, create=True)
    try:
        bot = RunResult(probe_name="bot", target_url="pipecat://bot", started_at=utcnow(),
                        source="production", framework="pipecat", conversation_id="CA123")  # fmt: skip
        bot.turns = [TurnResult(0, reported_latency_ms=400.0)]
        record([bot], store=store)
        probe = RunResult(probe_name="p", target_url="ws://127.0.0.1:9/twilio", started_at=utcnow(),
                          call_sid="CA123")  # fmt: skip
        probe.turns = [TurnResult(0, turn_latency_ms=650.0)]
        record([probe], store=store)
        row = store.get_run(probe.id)
        assert row is not None and row.joined_run_id == bot.id
        assert row.turns[0].unseen_latency_ms == 250.0
    finally:
        store.close()
