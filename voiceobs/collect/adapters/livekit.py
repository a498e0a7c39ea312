"""LiveKit Agents: an ``agent_session`` trace as a call, one turn per ``agent_turn``.

Names are livekit-agents' own (1.8, ``livekit.agents.telemetry.trace_types``;
the tests import those constants, so a rename upstream fails a test, not
production). Where each value is set, as read in its source:

* ``agent_session`` (child of ``job_entrypoint``): ``lk.room_sid``,
  ``lk.agent_name``, ``lk.job_id``, the linked SIP participant's attributes
  copied as ``lk.sip.*`` (a Twilio trunk's ``lk.sip.twilio.callSid``), and
  every span carries ``gen_ai.conversation.id`` (the room sid) and whatever
  ``set_tracer_provider(..., metadata=...)`` stamps (``voice.conversation_id``
  is how a bot names the call for the join).
* ``user_turn``: ``lk.pii.user_transcript``, ``lk.transcription_delay``,
  ``lk.end_of_turn_delay`` (0 when LiveKit could not compute them), with
  ``eou_wait`` / ``eou_detection`` below it (``lk.eou.endpointing_delay`` is
  the configured delay in force, not a measurement).
* ``agent_turn`` (the reply): ``lk.e2e_latency``, ``lk.interrupted``,
  ``lk.interruption.source``, ``lk.pii.response.text``, and the user turn's
  ``lk.end_of_turn_delay`` / ``lk.transcription_delay`` again (only when
  known); below it ``llm_node`` (``lk.response.ttft``) → ``llm_request``
  (``gen_ai.usage.*``, ``lk.llm_metrics``) → ``llm_request_run``, and
  ``tts_node`` (``lk.response.ttfb``) → ``tts_request`` (``lk.tts_metrics``:
  ``characters_count``, ``ttfb``) → ``tts_request_run``.
* ``session_close``: ``lk.close_reason`` (``error`` when the session failed).

Every time is in seconds. A turn is one agent reply, in start order
(a greeting is turn 0); an interruption counts when its source is the caller
(``audio_activity`` or ``user_turn``), not a programmatic one (teardown).
"""

from __future__ import annotations

from collections.abc import Sequence

from voiceobs.collect.adapters.origin import conversation_origin
from voiceobs.collect.adapters.production import fail_turn, production_run, settle_status
from voiceobs.collect.adapters.spans import (
    SpanTree,
    failed,
    flag,
    integer,
    json_object,
    ns_to_datetime,
    number,
    seconds_to_ms,
    text,
)
from voiceobs.collect.model import IngestedSpan
from voiceobs.collect.plausible import check_turn, refuse
from voiceobs.errors import FailureClass
from voiceobs.results import RunResult, TurnResult

NAME = "livekit"

#: The tracer livekit-agents creates its spans with.
SCOPE = "livekit-agents"

AGENT_SESSION = "agent_session"
USER_TURN = "user_turn"
AGENT_TURN = "agent_turn"
EOU_DETECTION = "eou_detection"
LLM_NODE = "llm_node"
LLM_REQUEST = "llm_request"
LLM_REQUEST_RUN = "llm_request_run"
TTS_NODE = "tts_node"
TTS_REQUEST = "tts_request"
TTS_REQUEST_RUN = "tts_request_run"
SESSION_CLOSE = "session_close"
JOB_ENTRYPOINT = "job_entrypoint"

#: Span names that, with ``lk.*`` attributes, mark a trace as LiveKit's even without its scope.
SPAN_NAMES = frozenset(
    {
        AGENT_SESSION,
        USER_TURN,
        AGENT_TURN,
        EOU_DETECTION,
        LLM_NODE,
        LLM_REQUEST,
        TTS_NODE,
        TTS_REQUEST,
        JOB_ENTRYPOINT,
    }
)

ATTR_E2E_LATENCY = "lk.e2e_latency"
ATTR_RESPONSE_TTFT = "lk.response.ttft"
ATTR_RESPONSE_TTFB = "lk.response.ttfb"
ATTR_EOU_DELAY = "lk.eou.endpointing_delay"
ATTR_TRANSCRIPTION_DELAY = "lk.transcription_delay"
ATTR_END_OF_TURN_DELAY = "lk.end_of_turn_delay"
ATTR_SPEECH_INTERRUPTED = "lk.interrupted"
ATTR_INTERRUPTION_SOURCE = "lk.interruption.source"
ATTR_RESPONSE_TEXT = "lk.pii.response.text"
ATTR_USER_TRANSCRIPT = "lk.pii.user_transcript"
ATTR_LLM_METRICS = "lk.llm_metrics"
ATTR_TTS_METRICS = "lk.tts_metrics"
ATTR_INPUT_TOKENS = "gen_ai.usage.input_tokens"
ATTR_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
ATTR_ROOM_SID = "lk.room_sid"
ATTR_AGENT_NAME = "lk.agent_name"
ATTR_CONVERSATION_ID = "gen_ai.conversation.id"
ATTR_CLOSE_REASON = "lk.close_reason"
ATTR_SIP_PREFIX = "lk.sip."
#: A Twilio SIP trunk's call SID, as LiveKit copies the participant's ``sip.twilio.callSid``.
ATTR_TWILIO_CALL_SID = ATTR_SIP_PREFIX + "twilio.callSid"
#: What a bot stamps with ``set_tracer_provider(provider, metadata={...})`` to name the call.
ATTR_VOICE_CONVERSATION_ID = "voice.conversation_id"

#: Interruption sources that are the caller speaking over the agent.
CALLER_INTERRUPTIONS = frozenset({"audio_activity", "user_turn"})


class LiveKitAdapter:
    """LiveKit Agents' OpenTelemetry traces (``set_tracer_provider``) as production calls."""

    name = NAME

    def recognises(self, span: IngestedSpan) -> bool:
        """Spans from the ``livekit-agents`` tracer, or its session spans carrying ``lk.*`` attributes."""
        if span.scope == SCOPE:
            return True
        return span.record.name in SPAN_NAMES and any(
            k.startswith("lk.") for k in span.record.attributes
        )

    def complete(self, spans: Sequence[IngestedSpan]) -> bool:
        """``agent_session`` ends only after the session closed, so its arrival ends the call."""
        return any(s.record.name == AGENT_SESSION for s in spans)

    def build(self, spans: Sequence[IngestedSpan]) -> RunResult | None:
        """The call so far: one turn per ``agent_turn``, paired with the ``user_turn`` it answers."""
        tree = SpanTree(spans)
        sessions = tree.named(AGENT_SESSION)
        agent_turns = tree.named(AGENT_TURN)
        if not sessions and not agent_turns and not tree.named(USER_TURN):
            return None
        session = sessions[0] if sessions else None
        own = [s for s in tree.spans if self.recognises(s)] or tree.spans
        started = session.record.start_ns if session else min(s.record.start_ns for s in own)
        finished = session.record.end_ns if session else max(s.record.end_ns for s in own)
        key = tree.spans[0].record.trace_id
        call_sid = _attr_text(tree.spans, ATTR_TWILIO_CALL_SID)
        conversation_id = (
            _attr_text(tree.spans, ATTR_VOICE_CONVERSATION_ID)
            or call_sid
            or _attr_text(tree.spans, ATTR_CONVERSATION_ID)
            or _attr_text(tree.spans, ATTR_ROOM_SID)
        )
        agent = _attr_text(tree.spans, ATTR_AGENT_NAME)
        run = production_run(
            NAME,
            key,
            conversation_origin(spans),
            ns_to_datetime(started),
            finished_at=ns_to_datetime(finished),
            trace_id=key,
            spans=spans,
            call_sid=call_sid,
            conversation_id=conversation_id,
            labels={"agent": agent} if agent else None,
        )
        user_turns = tree.named(USER_TURN)
        used: set[str] = set()
        for index, span in enumerate(agent_turns):
            user = _answered(span, user_turns, used)
            run.turns.append(_turn(index, span, user, tree))
        failure = None
        closes = tree.named(SESSION_CLOSE)
        if (session is not None and failed(session)) or any(
            text(c.record.attributes.get(ATTR_CLOSE_REASON)) == "error" or failed(c) for c in closes
        ):
            detail = next(
                (c.record.status_message for c in closes if c.record.status_message), None
            )
            failure = (FailureClass.INTERNAL_ERROR.value, detail)
        return settle_status(run, failure)


def _attr_text(spans: Sequence[IngestedSpan], key: str) -> str | None:
    for s in spans:
        if value := text(s.record.attributes.get(key)):
            return value
    return None


def _answered(
    agent_turn: IngestedSpan, user_turns: list[IngestedSpan], used: set[str]
) -> IngestedSpan | None:
    """The latest user turn begun before this reply and not answered yet (None for a greeting)."""
    best = None
    for u in user_turns:
        if u.record.start_ns <= agent_turn.record.start_ns and u.record.span_id not in used:
            best = u
    if best is not None:
        # Earlier unanswered user turns (the caller spoke twice) are passed over for good.
        for u in user_turns:
            if u.record.start_ns <= best.record.start_ns:
                used.add(u.record.span_id)
    return best


def _seconds(span: IngestedSpan | None, key: str) -> float | None:
    return seconds_to_ms(span.record.attributes.get(key)) if span is not None else None


def _turn(index: int, span: IngestedSpan, user: IngestedSpan | None, tree: SpanTree) -> TurnResult:
    attrs = span.record.attributes
    below = tree.descendants(span)
    llm_nodes = [s for s in below if s.record.name == LLM_NODE]
    llm_requests = [s for s in below if s.record.name == LLM_REQUEST]
    tts_nodes = [s for s in below if s.record.name == TTS_NODE]
    tts_requests = [s for s in below if s.record.name == TTS_REQUEST]
    interrupted = bool(flag(attrs.get(ATTR_SPEECH_INTERRUPTED)))
    source = text(attrs.get(ATTR_INTERRUPTION_SOURCE))
    turn = TurnResult(
        turn_index=index,
        started_at=ns_to_datetime(span.record.start_ns),
        reported_latency_ms=_seconds(span, ATTR_E2E_LATENCY),
        interruptions=1 if interrupted and source in CALLER_INTERRUPTIONS else 0,
        transcript=text(attrs.get(ATTR_RESPONSE_TEXT)),
    )
    _user_delays(turn, span, user)
    turn.llm_ttfb_ms = _first(
        [_seconds(s, ATTR_RESPONSE_TTFT) for s in llm_nodes]
        + [
            seconds_to_ms(json_object(s.record.attributes.get(ATTR_LLM_METRICS)).get("ttft"))
            for s in llm_requests
        ]
    )
    turn.tts_ttfb_ms = _first(
        [_seconds(s, ATTR_RESPONSE_TTFB) for s in tts_nodes]
        + [
            seconds_to_ms(json_object(s.record.attributes.get(ATTR_TTS_METRICS)).get("ttfb"))
            for s in tts_requests
        ]
    )
    turn.input_tokens = _tokens(llm_requests, ATTR_INPUT_TOKENS, "prompt_tokens")
    turn.output_tokens = _tokens(llm_requests, ATTR_OUTPUT_TOKENS, "completion_tokens")
    chars = [
        v
        for s in tts_requests
        if (
            v := integer(
                json_object(s.record.attributes.get(ATTR_TTS_METRICS)).get("characters_count")
            )
        )
        is not None
    ]
    turn.tts_characters = sum(chars) if chars else None
    if failed(span) or any(
        failed(s) for s in below if s.record.name not in (LLM_REQUEST_RUN, TTS_REQUEST_RUN)
    ):
        # A failed attempt that a retry recovered is not a failed turn; its request span says.
        fail_turn(turn)
    return check_turn(turn, interrupted=interrupted)


def _user_delays(turn: TurnResult, agent_turn: IngestedSpan, user: IngestedSpan | None) -> None:
    """Endpointing and transcription delays: the reply's copy (set only when known), else the user turn's."""
    a = agent_turn.record.attributes
    if ATTR_END_OF_TURN_DELAY in a or ATTR_TRANSCRIPTION_DELAY in a:
        turn.endpointing_delay_ms = _seconds(agent_turn, ATTR_END_OF_TURN_DELAY)
        turn.stt_ttfb_ms = _seconds(agent_turn, ATTR_TRANSCRIPTION_DELAY)
        return
    if user is None:
        return
    eot = number(user.record.attributes.get(ATTR_END_OF_TURN_DELAY))
    stt = number(user.record.attributes.get(ATTR_TRANSCRIPTION_DELAY))
    turn.endpointing_delay_ms = None if eot is None else eot * 1000.0
    turn.stt_ttfb_ms = None if stt is None else stt * 1000.0
    if eot == 0 and stt == 0:
        # LiveKit writes `or 0` for both when it rejected the turn's anchors (livekit/agents#6093).
        for measure in ("endpointing_delay_ms", "stt_ttfb_ms"):
            refuse(
                turn,
                measure,
                "not_measured",
                "LiveKit reports 0 when it could not compute the delay",
            )


def _first(values: list[float | None]) -> float | None:
    return next((v for v in values if v is not None), None)


def _tokens(requests: list[IngestedSpan], attr: str, metric: str) -> int | None:
    values = []
    for s in requests:
        value = integer(s.record.attributes.get(attr))
        if value is None:
            value = integer(json_object(s.record.attributes.get(ATTR_LLM_METRICS)).get(metric))
        if value is not None:
            values.append(value)
    return sum(values) if values else None


__all__ = ["NAME", "SCOPE", "LiveKitAdapter"]
