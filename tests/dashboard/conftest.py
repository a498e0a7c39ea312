"""A real SQLite store seeded the way probes, pipelines and evaluators fill it."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from voiceobs.results import RunResult, SpanRecord, TurnResult
from voiceobs.store import Store
from voiceobs.store.joins import join_call
from voiceobs.users import add_user

APP = Path(__file__).resolve().parents[2] / "dashboards" / "streamlit_app.py"
TARGETS = ["ws://127.0.0.1:8765/twilio", "ws://127.0.0.1:8766/pcm"]
#: A run whose turn is slow because its ASR stage is slow; tests open it by id.
SLOW_RUN_ID = "5" * 32
FAILED_RUN_ID = "f" * 32
#: One call seen from both sides: the probe's record and the bot's, joined by the call SID.
JOINED_SYNTHETIC_ID = "a" * 32
JOINED_PRODUCTION_ID = "b" * 32
#: Caller-heard (probe) and bot-reported (bot) latency of the joined call's two turns.
JOINED_HEARD_MS = (820.0, 760.0)
JOINED_REPORTED_MS = (610.0, 590.0)
#: Bot-reported latency of the production calls that no probe placed (two turns each).
PRODUCTION_REPORTED_MS = [(500.0 + 10 * i, 540.0 + 10 * i) for i in range(8)]


def _stage_spans(
    rng: random.Random, trace_id: str, t0: datetime, asr_ms: float | None = None
) -> list[SpanRecord]:
    base = int(t0.timestamp() * 1e9)
    audio = rng.uniform(0.5, 4.0)
    chars = rng.randint(20, 200)
    tokens = rng.randint(200, 3000)
    stages = [
        ("vad", 5 + 2 * audio, {"voice.audio_seconds": audio}),
        ("asr", asr_ms or 40 + 30 * audio, {"voice.audio_seconds": audio}),
        ("respond", 60 + 0.05 * tokens, {"voice.context_tokens": tokens}),
        ("tts", 20 + 0.5 * chars, {"voice.output_chars": chars}),
        ("transport", 12.0, {}),
    ]
    spans = [
        SpanRecord(trace_id=trace_id, span_id="1" * 16, name="probe.run", start_ns=base,
                   end_ns=base + 3_000_000_000, service_name="voiceobs-probe"),
        SpanRecord(trace_id=trace_id, span_id="2" * 16, parent_span_id="1" * 16, name="call",
                   start_ns=base + 1_000_000, end_ns=base + 2_900_000_000, service_name="voiceobs-probe"),
        SpanRecord(trace_id=trace_id, span_id="3" * 16, parent_span_id="2" * 16, name="turn",
                   start_ns=base + 2_000_000, end_ns=base + 2_800_000_000, service_name="voiceobs-probe"),
    ]  # fmt: skip
    cursor = base + 3_000_000
    for i, (name, ms, attrs) in enumerate(stages):
        end = cursor + int(ms * 1e6)
        spans.append(
            SpanRecord(trace_id=trace_id, span_id=f"{i + 10:016x}", parent_span_id="3" * 16,
                       name=name, start_ns=cursor, end_ns=end, attributes=attrs,
                       service_name="pipeline-agent")
        )  # fmt: skip
        cursor = end
    return spans


def seed_store(
    store: Store, now: datetime | None = None, runs: int = 60, minutes_apart: int = 12
) -> None:
    """Runs over the last 12 hours on two targets, one failed run, evaluations and incidents."""
    rng = random.Random(7)
    now = now or datetime.now(UTC)
    for i in range(runs):
        at = now - timedelta(minutes=minutes_apart * (runs - i))
        target = TARGETS[i % 2]
        run_id = SLOW_RUN_ID if i == runs - 1 else None
        run = RunResult(
            probe_name=f"probe-{i % 2}", target_url=target, region=["eu-west", "us-east"][i % 2],
            started_at=at, finished_at=at + timedelta(seconds=4), pipeline="agent",
            protocol="twilio", probe_host="probe-1", voiceobs_version="test",
        )  # fmt: skip
        if run_id:
            run.id = run_id
        run.trace_id = f"{i:032x}"
        for t in range(2):
            run.turns.append(
                TurnResult(
                    turn_index=t, prompt_id=f"p{t}", connect_ms=10 + rng.random() * 5,
                    ttfb_ms=350 + rng.random() * 50, turn_latency_ms=400 + rng.random() * 100,
                    pesq_wb=3.2 + rng.random(), stoi=0.9 + rng.random() * 0.08,
                    dnsmos_ovrl=3.1 + rng.random() * 0.4, wer=rng.random() * 0.1,
                    transcript="sure, I can call you back at 415 555 0134",
                    expected_text="I can call you back", started_at=at + timedelta(seconds=t),
                )
            )  # fmt: skip
        run.spans = _stage_spans(rng, run.trace_id, at, 900.0 if run_id else None)
        store.save_run(run)
    # One bad turn (low PESQ) and one failed call.
    bad = RunResult(probe_name="probe-0", target_url=TARGETS[0], region="eu-west",
                    started_at=now - timedelta(minutes=30), status="ok", pipeline="agent")  # fmt: skip
    bad.turns.append(TurnResult(turn_index=0, turn_latency_ms=450.0, pesq_wb=1.4, stoi=0.6,
                                wer=0.5, started_at=bad.started_at))  # fmt: skip
    store.save_run(bad)
    failed = RunResult(
        id=FAILED_RUN_ID, probe_name="probe-1", target_url=TARGETS[1], region="us-east",
        started_at=now - timedelta(minutes=20), status="failed", failure_class="timeout",
        failure_detail="no reply within 5 s",
    )  # fmt: skip
    failed.turns.append(TurnResult(turn_index=0, ok=False, failure_class="timeout", connect_ms=11.0,
                                   started_at=failed.started_at))  # fmt: skip
    store.save_run(failed)
    for k in range(24):
        at = now - timedelta(hours=24 - k)
        store.record_evaluation(
            slo_name="latency-p95", window="30d", objective=0.99, good=990 - k, total=1000,
            sli=0.99 - k * 0.001, budget_remaining=1 - k * 0.06,
            burn_rates={"1h": 14.0 + k, "5m": 15.0, "6h": 3.0}, alert_state="page" if k > 20 else "ok",
            evaluated_at=at,
        )  # fmt: skip
        store.record_evaluation(
            slo_name="availability", window="30d", objective=0.995, good=1000, total=1000,
            sli=1.0, budget_remaining=1.0, burn_rates={"1h": 0.0, "5m": 0.0},
            alert_state="ok", evaluated_at=at,
        )  # fmt: skip
    inc, _ = store.open_incident("latency-p95", "page", summary="p95 latency burning 14x")
    store.record_delivery(
        hook_name="pager", action="webhook", event="firing", outcome="delivered",
        incident_id=inc.id, response_code=200, duration_ms=12.0, actor="evaluator",
    )  # fmt: skip
    old, _ = store.open_incident("availability", "ticket", opened_at=now - timedelta(days=2))
    store.resolve_incident(old.id, by="evaluator")


def seed_production(store: Store, now: datetime | None = None) -> None:
    """Calls real callers made to a Pipecat bot, and one call a probe made to it (joined).

    Production turns carry what the bot reports (``reported_latency_ms``, stage
    TTFBs, tokens), no caller-side measure; the joined call's probe side has
    the caller-heard latency, so joining yields the time the bot does not see.
    """
    now = now or datetime.now(UTC)
    labels = {"framework": "pipecat", "service": "support-bot", "deployment": "prod"}
    for i, reported in enumerate(PRODUCTION_REPORTED_MS):
        at = now - timedelta(minutes=10 * (len(PRODUCTION_REPORTED_MS) - i) + 5)
        run = RunResult(
            probe_name="support-bot", target_url="pipecat://support-bot", region="eu-west",
            started_at=at, finished_at=at + timedelta(seconds=30), source="production",
            conversation_id=f"conv-{i}", **labels,
        )  # fmt: skip
        for t, ms in enumerate(reported):
            run.turns.append(TurnResult(
                turn_index=t, reported_latency_ms=ms, stt_ttfb_ms=120.0, llm_ttfb_ms=300.0,
                tts_ttfb_ms=80.0, input_tokens=900, output_tokens=40, tts_characters=160,
                started_at=at + timedelta(seconds=5 * t),
            ))  # fmt: skip
        store.save_run(run)
    at = now - timedelta(minutes=3)
    probe = RunResult(
        id=JOINED_SYNTHETIC_ID, probe_name="probe-0", target_url="ws://bot.example/twilio",
        region="eu-west", started_at=at, finished_at=at + timedelta(seconds=12),
        protocol="twilio", call_sid="CA0123456789", pipeline="agent",
    )  # fmt: skip
    bot = RunResult(
        id=JOINED_PRODUCTION_ID, probe_name="support-bot", target_url="pipecat://support-bot",
        region="eu-west", started_at=at + timedelta(milliseconds=300), source="production",
        conversation_id="CA0123456789", **labels,
    )  # fmt: skip
    for t in range(2):
        probe.turns.append(TurnResult(turn_index=t, turn_latency_ms=JOINED_HEARD_MS[t],
                                      started_at=at + timedelta(seconds=4 * t)))  # fmt: skip
        bot.turns.append(TurnResult(turn_index=t, reported_latency_ms=JOINED_REPORTED_MS[t],
                                    started_at=at + timedelta(seconds=4 * t)))  # fmt: skip
    store.save_run(probe)
    store.save_run(bot)
    assert join_call(store, JOINED_PRODUCTION_ID) == JOINED_SYNTHETIC_ID


@pytest.fixture
def mixed_url(sqlite_url: str) -> Iterator[str]:
    """The seeded store plus production calls and one call joined from both sides."""
    store = Store.open(sqlite_url, create=True)
    try:
        seed_store(store)
        seed_production(store)
    finally:
        store.close()
    yield sqlite_url


@pytest.fixture
def seeded_url(sqlite_url: str) -> Iterator[str]:
    store = Store.open(sqlite_url, create=True)
    try:
        seed_store(store)
    finally:
        store.close()
    yield sqlite_url


@pytest.fixture
def users_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A users file with an operator and a viewer, pointed to by VOICEOBS_USERS_FILE."""
    path = tmp_path / "users.toml"
    monkeypatch.setenv("VOICEOBS_USERS_FILE", str(path))
    add_user("olivia", "olivia-op-secret-1", "operator", path=path)
    add_user("victor", "victor-view-secret-1", "viewer", path=path)
    return path
