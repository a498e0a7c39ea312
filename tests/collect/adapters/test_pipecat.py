"""A real Pipecat bot, called by a voiceobs probe, seen through its own traces.

The bot (``tests/collect/pipecat_bot.py``) is a Pipecat pipeline on a real
loopback WebSocket: Twilio serializer, Silero VAD, Pipecat's own tracing and
turn observers, local STT/LLM/TTS services behind Pipecat's tracing
decorators. A voiceobs probe places a two-turn Twilio call into it; the
spans the bot exported (through the real OpenTelemetry SDK, behind
voiceobs' redaction) go through the assembler and the Pipecat adapter.

Ground truth is what Pipecat's own observers reported, read from them in
the bot process, not from the adapter: ``UserBotLatencyObserver``'s
``on_latency_measured`` (with the turn ``TurnTrackingObserver`` had started)
and ``TurnTrackingObserver``'s ``on_turn_ended``. The adapter's
``reported_latency_ms`` must equal the observer's seconds × 1000 within
0.001 ms: the figure passes through the trace unchanged (a float attribute),
so any larger difference is a bug in the adapter, not measurement noise.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.collect.pipecat_bot import SERVICE, BotRun, PipecatBot, caller_turns
from tests.helpers import make_spec
from voiceobs.collect.adapters import span_adapters
from voiceobs.collect.assembly import CallAssembler
from voiceobs.probe.runner import run_spec_async
from voiceobs.results import RunResult

pytestmark = pytest.mark.slow

#: Largest difference allowed between the adapter's latency and the observer's (ms).
TOLERANCE_MS = 0.001

PROMPTS = ["what are your opening hours", "please cancel my order"]


@pytest.fixture(scope="module")
def called(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunResult, BotRun]]:
    """One probe call into the bot: the probe's result and what the bot traced and observed."""
    base = tmp_path_factory.mktemp("pipecat")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VOICEOBS_DATA_DIR", str(base / "data"))
        mp.setenv("VOICEOBS_TTS_CACHE", str(Path(tmp_path_factory.getbasetemp()) / "tts-cache"))
        bot = PipecatBot(base)
        try:
            spec = make_spec(
                bot.url,
                pipeline="agent",
                timeouts={"connect_s": 5, "first_audio_s": 10, "call_s": 60},
                turns=caller_turns(base, PROMPTS, end_silence_ms=800, pause_ms=500),
            )
            (probe,) = asyncio.run(run_spec_async(spec))
        finally:
            seen = bot.stop()
    yield probe, seen


def _assemble(spans: list) -> list[RunResult]:
    asm = CallAssembler(span_adapters())
    asm.add(spans)
    return asm.due()


def test_the_bots_conversation_becomes_one_production_call(
    called: tuple[RunResult, BotRun],
) -> None:
    probe, seen = called
    (run,) = _assemble(seen.spans)
    assert (run.source, run.framework) == ("production", "pipecat")
    # The conversation id the bot set from Twilio's start message: the probe's call SID.
    assert probe.call_sid and run.conversation_id == probe.call_sid
    assert run.stream_sid == probe.stream_sid  # additional_span_attributes of the conversation span
    assert (run.service, run.probe_name, run.target_url) == (
        SERVICE,
        SERVICE,
        f"pipecat://{SERVICE}",
    )
    assert (run.deployment, run.region, run.labels) == (
        "staging",
        "eu-west-1",
        {"version": "1.4.2"},
    )
    assert run.finished_at is not None and run.finished_at > run.started_at
    assert {s.span_id for s in run.spans} >= {
        s.record.span_id for s in seen.spans if s.scope.startswith("pipecat")
    }


def test_turns_are_the_ones_pipecats_turn_observer_counted(
    called: tuple[RunResult, BotRun],
) -> None:
    probe, seen = called
    (run,) = _assemble(seen.spans)
    observed = seen.turns[probe.call_sid or ""]
    assert observed, "the turn observer saw no turn"
    assert [t.turn_index for t in run.turns] == [n - 1 for n, _, _ in observed]
    numbers = [n for n, _, _ in observed]
    for (number, _, interrupted), turn in zip(observed, run.turns, strict=True):
        # The turn open when the call ended is flagged interrupted by Pipecat: the hang-up,
        # not a barge-in (a barge-in starts the next turn at once).
        assert turn.interruptions == (1 if interrupted and number < max(numbers) else 0)
        assert turn.ok


def test_reported_latency_is_what_pipecats_latency_observer_measured(
    called: tuple[RunResult, BotRun],
) -> None:
    probe, seen = called
    (run,) = _assemble(seen.spans)
    measured = seen.latencies[probe.call_sid or ""]
    assert measured, "the bot never answered: nothing to compare"
    by_turn = {t.turn_index: t for t in run.turns}
    for number, seconds in measured:
        got = by_turn[number - 1].reported_latency_ms
        assert got is not None and abs(got - seconds * 1000.0) <= TOLERANCE_MS
    unmeasured = {t.turn_index for t in run.turns} - {n - 1 for n, _ in measured}
    assert all(by_turn[i].reported_latency_ms is None for i in unmeasured)


def test_stage_measures_come_from_the_service_spans(called: tuple[RunResult, BotRun]) -> None:
    _, seen = called
    (run,) = _assemble(seen.spans)
    answered = [t for t in run.turns if t.transcript]
    assert answered, "no turn carried the bot's reply"
    for turn in answered:
        # metrics.character_count counts the text the TTS spoke, which is the turn's transcript.
        assert turn.tts_characters == len(turn.transcript or "")
        assert turn.stt_ttfb_ms is not None and 0 < turn.stt_ttfb_ms < 30_000
        assert turn.llm_ttfb_ms is not None and turn.tts_ttfb_ms is not None
        assert turn.input_tokens and turn.output_tokens == len((turn.transcript or "").split())


def test_the_export_replayed_in_any_order_builds_the_same_call(
    called: tuple[RunResult, BotRun],
) -> None:
    _, seen = called
    (once,) = _assemble(seen.spans)
    shuffled = seen.spans * 2
    random.Random(3).shuffle(shuffled)
    (again,) = _assemble(shuffled)
    assert again.id == once.id
    assert [vars(t) for t in again.turns] == [vars(t) for t in once.turns]
