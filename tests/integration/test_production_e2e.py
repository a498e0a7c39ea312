"""One call seen from both sides, end to end: a real Pipecat bot exports into a real `voiceobs collect`.

The bot (tests/collect/pipecat_bot.py: Pipecat's Twilio serializer over a
real WebSocket, its own tracing and turn observers, the Silero VAD it
bundles) exports its traces with the plain OpenTelemetry OTLP/HTTP exporter
into `voiceobs collect` running as the CLI runs it. A voiceobs probe calls
the bot with `voiceobs probe run` into the same store. The two records must
join by the call SID the probe sent (the bot sets Pipecat's conversation_id
to it), and:

* the bot-reported latency equals what Pipecat's own ``UserBotLatencyObserver``
  measured, read in the bot process (tolerance 1 ms: the figure travels as a
  float attribute through OTLP, so any larger gap is a bug);
* the caller-heard latency is within 5 ms of ground truth: the call passes
  through a WebSocket tap in the test process (tests.helpers.WebSocketTap),
  which stamps each of the bot's messages as its last byte goes by, so when
  the caller's first loud reply frame arrived is known independently of the
  probe's own stamps (both on the host's wall clock: the probe records its
  end of speech on it in the ``await_reply`` span);
* the unseen latency is their difference, on the probe's turn.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.collect.pipecat_bot import SERVICE, PipecatBot, caller_turns
from tests.helpers import WebSocketTap, command, free_port, twilio_media_level, wait_http
from voiceobs.store import Store

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PROMPTS = ["what are your opening hours", "please cancel my order"]
#: The probe's silence threshold (dBFS): a reply frame above it is "loud".
THRESHOLD_DBFS = -45.0


def _probe_spec(path: Path, url: str) -> Path:
    spec = {
        "version": "voiceobs/v1",
        "name": "pipecat-support",
        "target": url,
        "protocol": "twilio",
        "silence_threshold_dbfs": THRESHOLD_DBFS,
        "timeouts": {"connect_s": 5, "first_audio_s": 10, "call_s": 60},
        "turns": caller_turns(path.parent, PROMPTS, end_silence_ms=800, pause_ms=500),
    }
    path.write_text(yaml.safe_dump(spec))
    return path


def test_a_probe_call_into_a_pipecat_bot_is_joined_with_the_bots_own_record(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    Store.open(db, create=True).close()
    port = free_port()
    env = {"VOICEOBS_DATA_DIR": str(tmp_path / "collect-data")}
    with command("collect", "--port", str(port), "--db", db, "--idle-timeout", "3s", env=env) as collect:
        wait_http(f"http://127.0.0.1:{port}/readyz", collect, 60.0)
        bot = PipecatBot(tmp_path, otlp_endpoint=f"http://127.0.0.1:{port}/v1/traces")
        tap = WebSocketTap(bot.port).__enter__()
        try:
            spec = _probe_spec(tmp_path / "probe.yaml", f"ws://127.0.0.1:{tap.port}/ws")
            probe = subprocess.run(
                [sys.executable, "-m", "voiceobs.cli.main", "probe", "run", str(spec), "--db", db, "--json"],
                capture_output=True, text=True, timeout=300, check=False,
                env={**os.environ, "PYTHONPATH": str(ROOT), "VOICEOBS_DATA_DIR": str(tmp_path / "probe-data")},
            )  # fmt: skip
            assert probe.returncode == 0, probe.stdout[-3000:] + probe.stderr[-3000:]
            [probed] = json.loads(probe.stdout)
        finally:
            tap.__exit__()
            seen = bot.stop()
        # The bot's spans reach the collector; its conversation closes when its root span
        # ends or after the idle timeout. Wait (bounded) for the production call and the join.
        store = Store.open(db)
        try:
            deadline = time.monotonic() + 60
            while True:
                row = store.get_run(probed["id"])
                if (row is not None and row.joined_run_id) or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert row is not None and row.joined_run_id, "the probe's call was never joined"
            production = store.get_run(row.joined_run_id)
        finally:
            store.close()

    assert production is not None
    assert (production.source, production.framework, production.service) == ("production", "pipecat", SERVICE)
    call_sid = probed["call_sid"]
    assert production.conversation_id == call_sid and production.joined_run_id == row.id

    # Bot-reported latency: what Pipecat's observer measured, through OTLP and the collector.
    observed = dict(seen.latencies[call_sid])
    reported = {t.turn_index: t.reported_latency_ms for t in production.turns}
    assert len(observed) == len(PROMPTS)
    for number, seconds in observed.items():
        assert reported[number - 1] == pytest.approx(seconds * 1000.0, abs=1.0)

    # Caller-heard latency against ground truth from the tap's stamps.
    heard = [(at, level) for at, m in tap.messages if (level := twilio_media_level(m)) is not None]
    for turn in row.turns:
        assert turn.turn_latency_ms is not None and turn.reported_latency_ms is not None
        assert turn.unseen_latency_ms == pytest.approx(turn.turn_latency_ms - turn.reported_latency_ms)
        assert turn.unseen_latency_ms >= 0  # the caller cannot hear it sooner than the bot sends it
    eos = _eos_times(db, probed["id"])
    for turn, eos_at in zip(row.turns, eos, strict=True):
        first_loud = next(t for t, db in heard if t > eos_at and db > THRESHOLD_DBFS)
        truth_ms = (first_loud - eos_at) * 1000.0
        assert turn.turn_latency_ms == pytest.approx(truth_ms, abs=5.0)


def _eos_times(db: str, run_id: str) -> list[float]:
    """The probe's recorded EoS per turn (wall-clock seconds), from its stored spans."""
    store = Store.open(db)
    try:
        spans = store.spans_for_run(run_id)
    finally:
        store.close()
    waits = sorted((s for s in spans if s.name == "await_reply"), key=lambda s: s.start_ns)
    assert waits, "the probe's await_reply spans were stored with its call"
    return [int(s.attributes["voice.eos_unix_ns"]) / 1e9 for s in waits]
