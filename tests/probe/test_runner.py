"""Against the real echo server: each fault ends in its failure class, in time; a healthy call passes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest

from tests.helpers import SHORT_PROMPT, ServerProcess, free_port
from voiceobs.errors import FailureClass, ProbeError
from voiceobs.probe.call import CallPlan, TurnPlan, place_call
from voiceobs.probe.prompts import load_prompt
from voiceobs.probe.protocols import wire_for
from voiceobs.probe.runner import run_spec_async
from voiceobs.probe.spec import ProbeSpec
from voiceobs.results import RunResult

pytestmark = pytest.mark.slow


def _run(spec: ProbeSpec) -> list[RunResult]:
    return asyncio.run(run_spec_async(spec))


FAULTS = [
    # fault, where it goes, failure class, deadline the failure must arrive within (s)
    ("stall", "param", FailureClass.TIMEOUT, 1.5 + 2.0 + 1.5),
    ("stall=0.3", "param", FailureClass.TIMEOUT, 1.5 + 2.0 + 1.5),
    ("drop=0.2", "param", FailureClass.TRUNCATED, 1.5 + 2.0),
    ("silence", "param", FailureClass.NO_AUDIO, 1.5 + 2.0 + 1.5),
    ("crash", "param", FailureClass.PROTOCOL_ERROR, 3.0),
    ("refuse", "query", FailureClass.CONNECT_ERROR, 3.0),
    ("garble", "param", FailureClass.QUALITY_ERROR, 1.5 + 3.0 + 10.0),
]


@pytest.mark.parametrize(("fault", "where", "expected", "deadline_s"), FAULTS, ids=[f[0] for f in FAULTS])
def test_fault_gives_its_failure_class(
    echo_server: ServerProcess,
    spec_for: Callable[..., ProbeSpec],
    fault: str,
    where: str,
    expected: FailureClass,
    deadline_s: float,
) -> None:
    query = f"voiceobs_fault={fault}" if where == "query" else ""
    spec = spec_for(
        echo_server.url("twilio", query),
        parameters={"voiceobs_fault": fault} if where == "param" else {},
        # garble keeps each frame's envelope (STOI stays near 0.7) but PESQ collapses
        metrics=["pesq_nb"],
        min_scores={"pesq_nb": 2.5},
    )
    [result] = _run(spec)
    assert result.failure_class == expected.value, result.failure_detail
    assert result.status == "failed"
    assert result.failure_detail
    # The call's own recorded start and end: the prompt's synthesis before the call (seconds
    # when the voice is not loaded yet) is not what the deadline is about.
    assert result.finished_at is not None
    assert (result.finished_at - result.started_at).total_seconds() < deadline_s
    assert result.turns and result.turns[0].ok is False
    assert result.turns[0].failure_class == expected.value


def test_healthy_call_passes_the_same_spec(echo_server: ServerProcess, spec_for: Callable[..., ProbeSpec]) -> None:
    spec = spec_for(echo_server.url("twilio"), metrics=["stoi", "pesq_nb"], min_scores={"stoi": 0.6})
    [result] = _run(spec)
    assert result.ok, result.failure_detail
    turn = result.turns[0]
    assert turn.stoi is not None and turn.stoi > 0.9
    assert turn.pesq_nb is not None and turn.pesq_nb > 3.5
    names = {s.name for s in result.spans}
    assert {"probe.run", "call", "turn", "send", "await_reply", "score"} <= names


def test_nobody_listening_is_connect_error() -> None:
    prompt = load_prompt(text=SHORT_PROMPT, sample_rate=8000, protocol="twilio")
    plan = CallPlan(url=f"ws://127.0.0.1:{free_port()}/twilio", turns=[TurnPlan(prompt)])
    with pytest.raises(ProbeError) as info:
        asyncio.run(place_call(plan, wire_for("twilio")))
    assert info.value.failure_class is FailureClass.CONNECT_ERROR


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
    (result,) = _run(spec)
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
    (result,) = _run(spec)
    assert result.failure_class == "quality_error"
    detail = result.failure_detail or ""
    assert detail.startswith("none of the expected keywords balance was heard in turn 1;")
    assert "answered another intent" in detail and "may be at fault" not in detail
