"""LiveKit Agents: the span tree one session emits, built with livekit-agents' own tracer and names.

A LiveKit room cannot run here, so the test drives livekit-agents'
telemetry directly: ``set_tracer_provider`` (with the ``metadata`` a bot
uses to name the call for the join) on a real SDK provider, its ``tracer``
(scope ``livekit-agents``), and every span and attribute name from
``livekit.agents.telemetry.trace_types``, in the tree and with the units its
source sets them (``voice/agent_session.py``, ``voice/agent_activity.py``,
``voice/audio_recognition.py``, ``voice/generation.py``, ``llm/llm.py``,
``tts/tts.py``). A rename upstream breaks this test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from livekit.agents.telemetry import set_tracer_provider, trace_types
from livekit.agents.telemetry.traces import tracer as lk_tracer
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from tests.collect.otel import MS, T0, Tracing
from voiceobs.collect.adapters import livekit as adapter_module
from voiceobs.collect.adapters.livekit import LiveKitAdapter
from voiceobs.collect.assembly import CallAssembler
from voiceobs.collect.model import IngestedSpan

CALL_SID = "CA" + "7" * 32
#: What the bot stamps on every span with ``set_tracer_provider(metadata=...)`` (a Twilio stream SID).
STREAM_SID = "MZ" + "5" * 32
ROOM_SID = "RM_xyz123"
RESOURCE = {
    "service.name": "lk-support",
    "service.version": "2.0.1",
    "deployment.environment.name": "prod",
    "cloud.region": "us-east-1",
}


@contextmanager
def lk_span(
    name: str, start_ms: float, end_ms: float, parent: Span | None, **attributes: Any
) -> Iterator[Span]:
    """A span from livekit-agents' own tracer, timed like the session's."""
    ctx = trace.set_span_in_context(parent if parent is not None else trace.INVALID_SPAN)
    span = lk_tracer.start_span(
        name, context=ctx, start_time=T0 + int(start_ms * MS), attributes=attributes
    )
    try:
        yield span
    finally:
        span.end(end_time=T0 + int(end_ms * MS))


def reply(
    parent: Span,
    start: float,
    *,
    text: str,
    e2e: float | None,
    ttft: float,
    ttfb: float,
    chars: int,
    prompt_tokens: int,
    completion_tokens: int,
    interrupted: bool = False,
    source: str | None = None,
    eot: float | None = None,
    stt: float | None = None,
    failed_llm: bool = False,
) -> None:
    """One ``agent_turn`` with its LLM and TTS nodes, requests and attempts."""
    attrs: dict[str, Any] = {trace_types.ATTR_SPEECH_ID: f"speech_{int(start)}"}
    with lk_span("agent_turn", start, start + 2500, parent, **attrs) as turn:
        with lk_span("llm_node", start + 5, start + 600, turn) as node:
            with lk_span("llm_request", start + 6, start + 590, node) as request:
                with lk_span(
                    "llm_request_run",
                    start + 7,
                    start + 585,
                    request,
                    **{trace_types.ATTR_RETRY_COUNT: 0},
                ):
                    pass
                request.set_attributes(
                    {
                        trace_types.ATTR_GEN_AI_USAGE_INPUT_TOKENS: prompt_tokens,
                        trace_types.ATTR_GEN_AI_USAGE_OUTPUT_TOKENS: completion_tokens,
                        trace_types.ATTR_LLM_METRICS: json.dumps(
                            {
                                "ttft": ttft,
                                "prompt_tokens": prompt_tokens,
                                "completion_tokens": completion_tokens,
                            }
                        ),
                    }
                )
                if failed_llm:
                    request.set_status(Status(StatusCode.ERROR, "provider returned 500"))
            node.set_attribute(trace_types.ATTR_RESPONSE_TTFT, ttft)
            node.set_attribute(trace_types.ATTR_RESPONSE_TEXT, text)
        with lk_span("tts_node", start + 300, start + 900, turn) as node:
            with lk_span("tts_request", start + 301, start + 890, node) as request:
                with lk_span("tts_request_run", start + 302, start + 880, request):
                    pass
                request.set_attribute(
                    trace_types.ATTR_TTS_METRICS,
                    json.dumps({"ttfb": ttfb, "characters_count": chars}),
                )
                request.set_attribute(trace_types.ATTR_TTS_INPUT_TEXT, text)
            node.set_attribute(trace_types.ATTR_RESPONSE_TTFB, ttfb)
        turn.set_attribute(trace_types.ATTR_SPEECH_INTERRUPTED, interrupted)
        if interrupted:
            turn.set_attribute(trace_types.ATTR_INTERRUPTION_SOURCE, source or "audio_activity")
        turn.set_attribute(trace_types.ATTR_RESPONSE_TEXT, text)
        if e2e is not None:
            turn.set_attribute(trace_types.ATTR_E2E_LATENCY, e2e)
            # _record_user_turn_stages: set only when LiveKit computed them.
            if eot is not None:
                turn.set_attribute(trace_types.ATTR_END_OF_TURN_DELAY, eot)
            if stt is not None:
                turn.set_attribute(trace_types.ATTR_TRANSCRIPTION_DELAY, stt)


def user(
    parent: Span, start: float, end: float, *, transcript: str, eot: float, stt: float
) -> None:
    """One ``user_turn`` with its end-of-utterance wait and detection (as audio_recognition builds them)."""
    with lk_span("user_turn", start, end, parent) as turn:
        with (
            lk_span(
                "eou_wait", end - 600, end - 5, turn, **{trace_types.ATTR_EOU_DELAY: 0.5}
            ) as wait,
            lk_span(
                "eou_detection",
                end - 590,
                end - 400,
                wait,
                **{trace_types.ATTR_EOU_PROBABILITY: 0.93, trace_types.ATTR_EOU_DELAY: 0.5},
            ),
        ):
            pass
        turn.set_attributes(
            {
                trace_types.ATTR_USER_TRANSCRIPT: transcript,
                trace_types.ATTR_TRANSCRIPTION_DELAY: stt,
                trace_types.ATTR_END_OF_TURN_DELAY: eot,
            }
        )


def session_spans(
    *, close_reason: str = "participant_disconnected", failed_llm: bool = True
) -> list[IngestedSpan]:
    """A session: greeting, two answered turns, a barge-in, a stale-anchor turn, an uncomputed one."""
    t = Tracing(RESOURCE)
    set_tracer_provider(t.provider, metadata={"voice.conversation_id": STREAM_SID})
    job_attrs = {
        trace_types.ATTR_JOB_ID: "AJ_1",
        trace_types.ATTR_AGENT_NAME: "support",
        trace_types.ATTR_ROOM_SID: ROOM_SID,
    }
    with (
        lk_span("job_entrypoint", 0, 30_000, None, **job_attrs) as job,
        lk_span(
            "agent_session",
            100,
            29_000,
            job,
            **{trace_types.ATTR_AGENT_LABEL: "Assistant", **job_attrs},
        ) as session,
    ):
        # _on_room_io_participant_linked: the SIP participant's attributes, the number as PII.
        session.set_attributes(
            {
                trace_types.ATTR_SIP_PREFIX + "twilio.callSid": CALL_SID,
                trace_types.ATTR_SIP_PREFIX + "callID": "SCL_abc",
                trace_types.ATTR_SIP_PHONE_NUMBER: "[PHONE:1a2b3c4d]",
            }
        )
        with lk_span("session_start", 100, 400, session):
            pass
        reply(session, 500, text="Hi, how can I help?", e2e=None, ttft=0.21, ttfb=0.12, chars=19,
              prompt_tokens=40, completion_tokens=6)  # fmt: skip
        user(session, 3000, 5000, transcript="what are your hours", eot=0.55, stt=0.18)
        reply(session, 5100, text="Nine to five.", e2e=0.85, ttft=0.31, ttfb=0.14, chars=13,
              prompt_tokens=52, completion_tokens=4, eot=0.55, stt=0.18)  # fmt: skip
        user(session, 8000, 9500, transcript="and on saturdays", eot=0.5, stt=0.2)
        reply(session, 9600, text="On Saturdays we open at ten and", e2e=0.9, ttft=0.0004, ttfb=0.0002,
              chars=31, prompt_tokens=60, completion_tokens=8, interrupted=True, eot=0.5, stt=0.2)  # fmt: skip
        user(session, 11_000, 12_500, transcript="wait, sundays?", eot=187.3, stt=186.9)
        reply(session, 12_600, text="Closed on Sundays.", e2e=1.1, ttft=-1.0, ttfb=0.15, chars=18,
              prompt_tokens=70, completion_tokens=5, eot=187.3, stt=186.9)  # fmt: skip
        user(session, 16_000, 17_500, transcript="thanks bye", eot=0.0, stt=0.0)
        reply(session, 17_600, text="Goodbye!", e2e=0.95, ttft=0.28, ttfb=0.13, chars=8,
              prompt_tokens=80, completion_tokens=2, interrupted=True, source="programmatic",
              failed_llm=failed_llm)  # fmt: skip
        with lk_span(
            "session_close",
            28_500,
            29_000,
            session,
            **{trace_types.ATTR_CLOSE_REASON: close_reason},
        ):
            pass
    return t.spans()


def test_the_adapter_uses_livekits_own_names() -> None:
    """The adapter names every attribute it reads; each must be livekit-agents' constant."""
    pairs = {
        "ATTR_E2E_LATENCY": trace_types.ATTR_E2E_LATENCY,
        "ATTR_RESPONSE_TTFT": trace_types.ATTR_RESPONSE_TTFT,
        "ATTR_RESPONSE_TTFB": trace_types.ATTR_RESPONSE_TTFB,
        "ATTR_EOU_DELAY": trace_types.ATTR_EOU_DELAY,
        "ATTR_TRANSCRIPTION_DELAY": trace_types.ATTR_TRANSCRIPTION_DELAY,
        "ATTR_END_OF_TURN_DELAY": trace_types.ATTR_END_OF_TURN_DELAY,
        "ATTR_SPEECH_INTERRUPTED": trace_types.ATTR_SPEECH_INTERRUPTED,
        "ATTR_INTERRUPTION_SOURCE": trace_types.ATTR_INTERRUPTION_SOURCE,
        "ATTR_RESPONSE_TEXT": trace_types.ATTR_RESPONSE_TEXT,
        "ATTR_USER_TRANSCRIPT": trace_types.ATTR_USER_TRANSCRIPT,
        "ATTR_LLM_METRICS": trace_types.ATTR_LLM_METRICS,
        "ATTR_TTS_METRICS": trace_types.ATTR_TTS_METRICS,
        "ATTR_INPUT_TOKENS": trace_types.ATTR_GEN_AI_USAGE_INPUT_TOKENS,
        "ATTR_OUTPUT_TOKENS": trace_types.ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
        "ATTR_ROOM_SID": trace_types.ATTR_ROOM_SID,
        "ATTR_AGENT_NAME": trace_types.ATTR_AGENT_NAME,
        "ATTR_CONVERSATION_ID": trace_types.ATTR_GEN_AI_CONVERSATION_ID,
        "ATTR_CLOSE_REASON": trace_types.ATTR_CLOSE_REASON,
        "ATTR_SIP_PREFIX": trace_types.ATTR_SIP_PREFIX,
    }
    assert {k: getattr(adapter_module, k) for k in pairs} == pairs


def test_a_livekit_session_becomes_a_call_with_its_turns_and_measures() -> None:
    spans = session_spans()
    assert {s.scope for s in spans} == {adapter_module.SCOPE}
    asm = CallAssembler([LiveKitAdapter()])
    asm.add(spans)
    (run,) = asm.due()
    assert (run.source, run.framework, run.service, run.deployment, run.region) == (
        "production", "livekit", "lk-support", "prod", "us-east-1",
    )  # fmt: skip
    assert run.labels == {"version": "2.0.1", "agent": "support"}
    assert (run.probe_name, run.target_url) == ("lk-support", "livekit://lk-support")
    # The bot's own name for the call wins; the SIP trunk's call SID is kept as the call SID.
    assert run.conversation_id == STREAM_SID and run.call_sid == CALL_SID
    assert all(s.record.attributes.get("voice.conversation_id") == STREAM_SID for s in spans)
    assert run.trace_id == spans[0].record.trace_id
    assert (run.finished_at - run.started_at).total_seconds() == pytest.approx(
        28.9
    )  # agent_session's span
    assert len(run.spans) == len(spans)

    greeting, hours, barge_in, stale, last = run.turns
    assert [t.turn_index for t in run.turns] == [0, 1, 2, 3, 4]
    # The greeting answers no user turn: no voice-to-voice figure, no user delays.
    assert greeting.reported_latency_ms is None and greeting.endpointing_delay_ms is None
    assert greeting.transcript == "Hi, how can I help?" and greeting.llm_ttfb_ms == pytest.approx(
        210.0
    )
    # Seconds become milliseconds.
    assert hours.reported_latency_ms == pytest.approx(850.0)
    assert hours.endpointing_delay_ms == pytest.approx(550.0)
    assert hours.stt_ttfb_ms == pytest.approx(180.0)
    assert hours.llm_ttfb_ms == pytest.approx(310.0) and hours.tts_ttfb_ms == pytest.approx(140.0)
    assert (hours.input_tokens, hours.output_tokens, hours.tts_characters) == (52, 4, 13)
    assert (hours.interruptions, hours.flags, hours.ok) == (0, {}, True)
    # Barged in: counted, and its stage TTFBs (cut short by the interruption) refused.
    assert barge_in.interruptions == 1 and barge_in.reported_latency_ms == pytest.approx(900.0)
    assert (barge_in.stt_ttfb_ms, barge_in.llm_ttfb_ms, barge_in.tts_ttfb_ms) == (None, None, None)
    assert all(
        barge_in.flags[m].startswith("interrupted:")
        for m in ("stt_ttfb_ms", "llm_ttfb_ms", "tts_ttfb_ms")
    )
    # livekit/agents#6093: a stale anchor's three-minute delays, and a ttft of -1 (no token).
    assert stale.endpointing_delay_ms is None and stale.flags["endpointing_delay_ms"].startswith(
        "too_long:"
    )
    assert stale.stt_ttfb_ms is None and stale.flags["stt_ttfb_ms"].startswith("too_long:")
    assert stale.llm_ttfb_ms is None and stale.flags["llm_ttfb_ms"].startswith("negative:")
    assert stale.reported_latency_ms == pytest.approx(
        1100.0
    ) and stale.tts_ttfb_ms == pytest.approx(150.0)
    # Delays LiveKit could not compute come as 0 on the user turn only: not measured, not 0 ms.
    assert last.endpointing_delay_ms is None and last.flags["endpointing_delay_ms"].startswith(
        "not_measured:"
    )
    # Interrupted by the program (teardown), not the caller; its LLM request failed.
    assert last.interruptions == 0 and (last.ok, last.failure_class) == (False, "internal_error")
    assert last.stt_ttfb_ms is None and last.flags["stt_ttfb_ms"].startswith("not_measured:")
    assert (run.status, run.failure_class) == ("failed", "internal_error")
    # Counted once each: 3 on the barge-in, 3 on the stale turn, 4 on the last (2 uncomputed,
    # 2 stage TTFBs of a programmatically interrupted reply).
    assert asm.refusals.total == 10
    assert asm.refusals.snapshot()[("livekit", "endpointing_delay_ms", "too_long")] == 1


@pytest.mark.parametrize(
    ("close_reason", "status"), [("participant_disconnected", "ok"), ("error", "failed")]
)
def test_a_session_closed_by_an_error_fails_the_call(close_reason: str, status: str) -> None:
    run = LiveKitAdapter().build(session_spans(close_reason=close_reason, failed_llm=False))
    assert run is not None and run.status == status
    assert all(t.ok for t in run.turns)
    if status == "failed":
        assert run.failure_class == "internal_error"


def test_the_session_span_completes_the_call_and_earlier_spans_wait() -> None:
    spans = session_spans()
    adapter = LiveKitAdapter()
    before = [s for s in spans if s.record.name not in ("agent_session", "job_entrypoint")]
    assert not adapter.complete(before)
    assert adapter.complete(spans)
    partial = adapter.build(before)
    assert partial is not None and len(partial.turns) == 5
    assert partial.id == adapter.build(spans).id  # type: ignore[union-attr]


def test_recognises_livekit_spans_and_not_others() -> None:
    spans = session_spans()
    adapter = LiveKitAdapter()
    assert all(adapter.recognises(s) for s in spans)
    t = Tracing(RESOURCE)
    with t.span(t.tracer("pipecat.turn"), "turn", 0, 1, attributes={"turn.number": 1}):
        pass
    assert not any(adapter.recognises(s) for s in t.spans())
