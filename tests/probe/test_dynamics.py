"""Conversation dynamics: the definitions on hand-built call records, then ground truth from the agent.

The first tests build a call's record directly (send times, arrival stamps,
received audio), so each definition in docs/architecture.md is checked on
its own. The rest place real calls on the reference agent with an injected
fault and check each measure against the injected value, computed from the
call's own recorded times, never from the ideal schedule.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from tests.helpers import ServerProcess, make_spec
from voiceobs.probe.call import CallRecord, TurnRecord
from voiceobs.probe.dynamics import interrupted_reply_end, measure_dynamics
from voiceobs.probe.measure import measure_turn
from voiceobs.probe.pacing import Pacer
from voiceobs.probe.prompts import build_prompt
from voiceobs.probe.runner import run_spec_async
from voiceobs.results import RunResult, TurnResult

RATE = 8000
N = 160  # samples in 20 ms
LOUD = -20.0
QUIET = -80.0


def _tone(frames: int) -> np.ndarray:
    t = np.arange(frames * N) / RATE
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def _record(rx: list[tuple[float, bool]], prompt_frames: tuple[int, int, int] = (5, 100, 10)) -> tuple[CallRecord, TurnRecord]:
    """A call whose prompt (silence, speech, silence frames) went out at 20 ms from t=10 s."""
    lead, speech, tail = prompt_frames
    audio = np.concatenate([np.zeros(lead * N, np.float32), _tone(speech), np.zeros(tail * N, np.float32)])
    prompt = build_prompt(audio, RATE, "pcm")
    rec = CallRecord(sample_rate=RATE, silence_threshold_dbfs=-45.0)
    rec.pacer = Pacer(10.0)
    for k in range(prompt.n_frames + 400):
        rec.pacer.record(k, 10.0 + k * 0.02 + 0.0003 * (k % 3))  # a little real pacing error
    for at, loud in rx:
        rec.rx_at.append(at)
        rec.rx_audio.append(np.full(N, 3000 if loud else 0, np.int16))
        rec.rx_level.append(LOUD if loud else QUIET)
    turn = TurnRecord(index=0, prompt=prompt, first_frame=0)
    turn.sent_first_at = rec.pacer.actual[0]
    turn.eos_at = rec.pacer.actual[prompt.last_speech_frame]
    turn.rx_end = len(rec.rx_at)
    loud_idx = [i for i, (at, is_loud) in enumerate(rx) if is_loud and at > turn.eos_at]
    if loud_idx:
        turn.first_loud, turn.last_loud = loud_idx[0], loud_idx[-1]
        turn.first_any = loud_idx[0]
    return rec, turn


def _frames(start: float, pattern: str) -> list[tuple[float, bool]]:
    """A received stream from ``start``: one 20 ms frame per character, ``#`` speech and ``.`` silence."""
    return [(start + 0.02 * i, c == "#") for i, c in enumerate(pattern)]


def test_dead_air_is_silence_in_the_audio_not_a_late_frame() -> None:
    # Reply after EoS: speech, 35 silent frames (700 ms), speech, 10 silent (200 ms), speech.
    rec, turn = _record([])
    eos = turn.eos_at
    assert eos is not None
    rx = _frames(eos + 0.5, "#" * 20 + "." * 35 + "#" * 10 + "." * 10 + "#" * 5)
    rec, turn = _record(rx)
    m = measure_dynamics(rec, turn, loopback=False, dead_air_threshold_ms=500)
    assert m["dead_air_max_ms"] == 700.0 and m["dead_air_count"] == 1
    # The same speech with 700 ms where no frame arrived at all is a gap, not dead air.
    gappy = _frames(eos + 0.5, "#" * 20) + _frames(eos + 0.5 + 0.02 * 55, "#" * 10)
    rec, turn = _record(gappy)
    m = measure_turn(rec, turn, loopback=False)
    assert m["dead_air_max_ms"] == 0.0 and m["dead_air_count"] == 0
    assert m["gap_max_ms"] is not None and abs(m["gap_max_ms"] - 720.0) < 1e-6


def test_talk_over_is_bot_speech_while_the_caller_speaks_or_pauses() -> None:
    rec, turn = _record([])
    speech_at = rec.sent_at(turn.prompt.first_speech_frame if turn.prompt else 0)
    assert speech_at is not None and turn.eos_at is not None
    # Bot speech before the caller's first word is not talk-over; 10 frames mid-utterance are,
    # in two stretches more than end_silence apart; the reply after EoS is not.
    before = _frames(speech_at - 0.5, "###")
    during = _frames(speech_at + 0.1, "#####") + _frames(speech_at + 0.1 + 0.9, "#####")
    reply = _frames(turn.eos_at + 0.3, "#" * 20)
    rec, turn = _record(before + during + reply)
    turn.end_silence_s = 0.8
    m = measure_dynamics(rec, turn, loopback=False, dead_air_threshold_ms=500)
    assert m["talk_over_ms"] == 200.0 and m["early_endpoints"] == 2
    # The wait is from EoS to the first bot speech after the caller began: negative here.
    assert m["endpoint_wait_ms"] is not None
    assert abs(m["endpoint_wait_ms"] - (during[0][0] - turn.eos_at) * 1000.0) < 1e-6
    # A bot that waits: no talk-over, and the wait is the reply's arrival after EoS.
    rec, turn = _record(before + reply)
    m = measure_dynamics(rec, turn, loopback=False, dead_air_threshold_ms=500)
    assert (m["talk_over_ms"], m["early_endpoints"]) == (0.0, 0)
    assert turn.eos_at is not None and m["endpoint_wait_ms"] is not None
    assert abs(m["endpoint_wait_ms"] - 300.0) < 1e-6
    # A loopback target always talks over: not measured there.
    assert measure_dynamics(rec, turn, loopback=True, dead_air_threshold_ms=500)["talk_over_ms"] is None


def test_barge_in_stop_follows_the_interrupted_reply_until_it_pauses() -> None:
    rec, turn = _record([])
    speech_at = rec.sent_at(turn.prompt.first_speech_frame if turn.prompt else 0)
    assert speech_at is not None and turn.eos_at is not None
    # The reply was going when the caller began; it stops 240 ms in; the bot answers 1 s after EoS.
    interrupted = _frames(speech_at - 1.0, "#" * 50 + "#" * 12)  # the last frame arrives at +220 ms
    answer = _frames(turn.eos_at + 1.0, "#" * 30)
    rec, turn = _record(interrupted + answer)
    turn.kind, turn.end_silence_s = "barge_in", 0.8
    turn.clear_at = [speech_at - 2.0, speech_at + 0.2345]  # a clear from before is not this one's
    m = measure_dynamics(rec, turn, loopback=False, dead_air_threshold_ms=500)
    assert m["barge_in_stop_ms"] is not None and abs(m["barge_in_stop_ms"] - 220.0) < 1e-6
    assert m["clear_ms"] is not None and abs(m["clear_ms"] - 234.5) < 1e-6
    # Its answer is not the interrupted reply, and is not talk-over either.
    assert m["talk_over_ms"] == 0.0
    assert m["endpoint_wait_ms"] is not None and abs(m["endpoint_wait_ms"] - 1000.0) < 1e-6
    # A reply that never pauses runs on through the interruption's end.
    endless = _frames(speech_at - 1.0, "#" * 200)
    last = interrupted_reply_end(
        [a for a, _ in endless], [LOUD] * len(endless), -45.0, start=speech_at, caller_eos=turn.eos_at, link_s=0.8
    )
    assert last == len(endless) - 1
    # A bot that was already quiet when the caller began, and stays so, stopped at once.
    rec, turn = _record(_frames(speech_at - 1.0, "#" * 10) + answer)
    turn.kind = "barge_in"
    assert measure_dynamics(rec, turn, loopback=False, dead_air_threshold_ms=500)["barge_in_stop_ms"] == 0.0


def test_a_greeting_is_timed_from_the_protocol_start_and_is_not_a_latency() -> None:
    rec, _ = _record([])
    rec.connected_at = 9.5
    rx = _frames(9.5 + 0.25, "." * 5 + "#" * 40)
    for at, loud in rx:
        rec.rx_at.append(at)
        rec.rx_audio.append(np.full(N, 3000 if loud else 0, np.int16))
        rec.rx_level.append(LOUD if loud else QUIET)
    turn = TurnRecord(index=0, prompt=None, first_frame=0, kind="greeting")
    turn.sent_first_at = turn.eos_at = 9.5
    turn.first_any, turn.first_loud, turn.last_loud, turn.rx_end = 0, 5, len(rx) - 1, len(rx)
    m = measure_turn(rec, turn, loopback=False)
    assert m["greeting_ms"] is not None and abs(m["greeting_ms"] - 350.0) < 1e-6
    assert m["turn_latency_ms"] is None and m["ttfb_ms"] is None


# -- ground truth: the reference agent with injected faults ------------------------------------


@pytest.fixture(scope="module")
def agent_server() -> Iterator[ServerProcess]:
    srv = ServerProcess("agent")
    try:
        yield srv
    finally:
        srv.stop()


BARGE_IN = [
    {
        "prompt": "What are your opening hours?",
        "barge_in": {"after_ms": 800, "prompt": "Sorry, actually, please cancel my order.", "deadline_ms": 2000},
    }
]


def _run(server: ServerProcess, params: dict[str, str], **spec: Any) -> RunResult:
    s = make_spec(
        server.url("twilio"),
        pipeline="agent",
        parameters=params,
        timeouts={"connect_s": 5, "first_audio_s": 8, "call_s": 60},
        **spec,
    )
    [result] = asyncio.run(run_spec_async(s))
    return result


def _turn(result: RunResult, kind: str) -> TurnResult:
    return next(t for t in result.turns if t.kind == kind)


@pytest.mark.slow
def test_a_healthy_agent_stops_by_its_clear_and_one_that_stops_late_reads_the_injected_lateness(
    agent_server: ServerProcess,
) -> None:
    healthy = _turn(_run(agent_server, {}, turns=BARGE_IN), "barge_in")
    assert healthy.ok, healthy.failure_class
    assert healthy.barge_in_stop_ms is not None and healthy.clear_ms is not None
    # The agent's last speech frame went out before its clear: it stopped when it said so.
    assert healthy.barge_in_stop_ms <= healthy.clear_ms + 5.0
    assert healthy.barge_in_stop_ms < 500.0
    late = _turn(_run(agent_server, {"voiceobs_fault": "stop_late=300"}, turns=BARGE_IN), "barge_in")
    assert late.ok, late.failure_class
    assert late.barge_in_stop_ms is not None and late.clear_ms is not None
    # On top of this call's healthy path (the clear, when the agent decided to stop): 300 +- 5.
    assert abs(late.barge_in_stop_ms - late.clear_ms - 300.0) < 5.0


@pytest.mark.slow
def test_an_agent_that_ignores_barge_in_fails_its_turn_at_the_deadline(agent_server: ServerProcess) -> None:
    result = _run(agent_server, {"voiceobs_fault": "ignore_barge_in"}, turns=BARGE_IN)
    turn = _turn(result, "barge_in")
    assert result.failure_class == "barge_in_ignored"
    assert (turn.ok, turn.failure_class, turn.clear_ms) == (False, "barge_in_ignored", None)
    # Caught at the deadline, not when the reply finally ended: the speech it had heard by then.
    assert turn.barge_in_stop_ms is not None and 2000.0 < turn.barge_in_stop_ms < 2150.0


@pytest.mark.slow
def test_dead_air_reads_the_injected_silence_and_fails_past_the_limit(agent_server: ServerProcess) -> None:
    turns = [{"prompt": "What are your opening hours?"}]
    healthy = _turn(_run(agent_server, {}, turns=turns), "prompt")
    assert healthy.dead_air_max_ms is not None and healthy.dead_air_max_ms < 700.0
    stalled = _run(agent_server, {"voiceobs_fault": "dead_air=700"}, turns=turns)
    turn = _turn(stalled, "prompt")
    assert turn.dead_air_max_ms is not None and abs(turn.dead_air_max_ms - 700.0) < 5.0
    assert turn.dead_air_count == 1 and stalled.ok
    # No frame was late: this is the bot's silence, not the network's.
    assert turn.gaps_over_60ms == 0
    limited = _run(agent_server, {"voiceobs_fault": "dead_air=700"}, turns=turns, dead_air={"max_ms": 600})
    assert limited.failure_class == "dead_air"
    assert _turn(limited, "prompt").failure_class == "dead_air"


@pytest.mark.slow
def test_a_greeting_delayed_by_1500_ms_reads_1500_more(agent_server: ServerProcess) -> None:
    turns = [{"prompt": "What are your opening hours?"}]
    greeting = {"expect": {"keywords": ["help"]}}
    healthy = _run(agent_server, {"voiceobs_greeting": "1"}, greeting=greeting, turns=turns)
    first = _turn(healthy, "greeting")
    assert healthy.ok and first.ok, healthy.failure_detail
    assert first.transcript is not None and "help" in first.transcript
    late = _run(agent_server, {"voiceobs_greeting": "1", "voiceobs_fault": "greeting_delay=1500"},
                greeting={"max_ms": 1000}, turns=turns)  # fmt: skip
    slow = _turn(late, "greeting")
    assert first.greeting_ms is not None and slow.greeting_ms is not None
    assert abs(slow.greeting_ms - first.greeting_ms - 1500.0) < 5.0
    assert late.failure_class == "slow_greeting" and slow.failure_class == "slow_greeting"


@pytest.mark.slow
def test_talk_over_a_900_ms_pause_is_caught_and_waiting_is_not(agent_server: ServerProcess) -> None:
    turns = [{"prompt": "I would like to book {pause 900ms} an appointment"}]
    patient = _turn(_run(agent_server, {"voiceobs_hangover_ms": "1200"}, turns=turns), "prompt")
    assert (patient.talk_over_ms, patient.early_endpoints) == (0.0, 0)
    assert patient.endpoint_wait_ms is not None and patient.endpoint_wait_ms > 1200.0
    assert patient.endpoint_wait_ms == patient.turn_latency_ms
    eager = _turn(
        _run(agent_server, {"voiceobs_hangover_ms": "1200", "voiceobs_fault": "early_endpoint=200"}, turns=turns),
        "prompt",
    )
    assert eager.talk_over_ms is not None and eager.talk_over_ms > 0
    assert eager.early_endpoints is not None and eager.early_endpoints >= 1
    assert eager.endpoint_wait_ms is not None and eager.endpoint_wait_ms < 0


@pytest.mark.slow
def test_a_dtmf_turn_is_answered_and_timed_from_the_last_key(agent_server: ServerProcess) -> None:
    """IVR-style: the agent's menu key 1 is its opening hours; latency counts from the last digit sent."""
    turns = [{"dtmf": "1#", "expect": {"keywords": ["open"]}}]
    result = _run(agent_server, {}, turns=turns)
    turn = _turn(result, "dtmf")
    assert result.ok and turn.ok, result.failure_detail
    assert turn.transcript is not None and "open" in turn.transcript
    # The answer comes after the last key (no talk-over), and the wait is the latency.
    assert turn.turn_latency_ms is not None and 0 < turn.turn_latency_ms < 3000
    assert turn.endpoint_wait_ms == turn.turn_latency_ms and turn.talk_over_ms == 0.0


@pytest.mark.slow
def test_a_spec_that_waits_for_a_greeting_from_a_bot_that_never_greets_says_so(echo_server: ServerProcess) -> None:
    spec = make_spec(echo_server.url("twilio"), greeting={}, timeouts={"connect_s": 3, "first_audio_s": 1, "call_s": 10})
    [result] = asyncio.run(run_spec_async(spec))
    assert result.failure_class == "timeout"
    assert result.failure_detail is not None and "no greeting within 1 s" in result.failure_detail
    assert [(t.kind, t.failure_class) for t in result.turns] == [("greeting", "timeout"), ("prompt", "timeout")]
