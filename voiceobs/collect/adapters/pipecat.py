"""Pipecat: a conversation's ``conversation`` / ``turn`` / ``stt`` / ``llm`` / ``tts`` spans as a call.

The names are Pipecat's own (pipecat-ai 1.14, ``pipecat/utils/tracing/``):
``TurnTraceObserver`` opens a ``conversation`` span (``conversation.id``, set
by ``PipelineWorker(conversation_id=...)`` / ``PipelineTask(conversation_id=...)``,
plus any ``additional_span_attributes``) and a ``turn`` span per turn
(``turn.number`` from 1, ``turn.user_bot_latency_seconds``,
``turn.was_interrupted``, ``turn.duration_seconds``); the service decorators
open ``stt`` (``transcript``, ``metrics.ttfb``, ``metrics.audio_seconds``,
``stt.incomplete``), ``llm`` (``output``, ``metrics.ttfb``,
``gen_ai.usage.input_tokens`` / ``output_tokens``) and ``tts`` (``text``,
``metrics.ttfb``, ``metrics.character_count``, ``tts.interrupted``) spans
under the turn. Every time there is in seconds; voiceobs stores milliseconds.

Two readings of Pipecat's semantics matter:

* A turn is one bot reply; ``turn_index`` is ``turn.number - 1`` (a bot that
  greets first has its greeting as turn 0).
* ``TurnTrackingObserver`` marks the turn still open when the pipeline ends
  as interrupted, and a real barge-in always starts the next turn at once.
  So a turn counts as interrupted by the caller only when a later turn
  exists; the last turn's flag is the hang-up.
"""

from __future__ import annotations

from collections.abc import Sequence

from voiceobs.collect.adapters.origin import conversation_origin
from voiceobs.collect.adapters.production import fail_turn, production_run, settle_status
from voiceobs.collect.adapters.spans import (
    SpanTree,
    containing,
    failed,
    flag,
    integer,
    ns_to_datetime,
    number,
    seconds_to_ms,
    text,
)
from voiceobs.collect.model import IngestedSpan
from voiceobs.collect.plausible import check_turn, refuse
from voiceobs.errors import FailureClass
from voiceobs.results import RunResult, TurnResult

NAME = "pipecat"

#: Tracer names Pipecat's spans come from (``trace.get_tracer(...)`` in its tracing package).
SCOPES = frozenset({"pipecat", "pipecat.turn"})

CONVERSATION, TURN, STT, LLM, TTS = "conversation", "turn", "stt", "llm", "tts"

ATTR_CONVERSATION_ID = "conversation.id"
ATTR_TURN_NUMBER = "turn.number"
ATTR_LATENCY_S = "turn.user_bot_latency_seconds"
ATTR_INTERRUPTED = "turn.was_interrupted"
ATTR_TTFB_S = "metrics.ttfb"
ATTR_CHARACTERS = "metrics.character_count"
ATTR_INPUT_TOKENS = "gen_ai.usage.input_tokens"
ATTR_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
ATTR_TTS_TEXT = "text"
ATTR_LLM_OUTPUT = "output"
ATTR_STT_INCOMPLETE = "stt.incomplete"
ATTR_TTS_INTERRUPTED = "tts.interrupted"

#: Join keys a bot may add with ``additional_span_attributes`` (the generic schema's names).
ATTR_CALL_SID = "voice.call_sid"
ATTR_STREAM_SID = "voice.stream_sid"


class PipecatAdapter:
    """Pipecat's OpenTelemetry traces (``enable_tracing=True``) as production calls."""

    name = NAME

    def recognises(self, span: IngestedSpan) -> bool:
        """Spans from Pipecat's tracers, or its conversation and turn spans by their attributes."""
        if span.scope in SCOPES:
            return True
        attrs = span.record.attributes
        return (span.record.name == CONVERSATION and ATTR_CONVERSATION_ID in attrs) or (
            span.record.name == TURN and ATTR_TURN_NUMBER in attrs
        )

    def complete(self, spans: Sequence[IngestedSpan]) -> bool:
        """The ``conversation`` span ends with the pipeline, so once it is here the call is over."""
        return any(_is_conversation(s) for s in spans)

    def build(self, spans: Sequence[IngestedSpan]) -> RunResult | None:
        """The call so far: one turn per ``turn`` span, with its stage spans' measures."""
        tree = SpanTree(spans)
        conversations = [s for s in tree.named(CONVERSATION) if _is_conversation(s)]
        turn_spans = _turn_spans(tree)
        if not conversations and not turn_spans:
            return None
        conv = conversations[0] if conversations else None
        own = [s for s in tree.spans if self.recognises(s)] or tree.spans
        started = min(s.record.start_ns for s in own)
        finished = max(s.record.end_ns for s in own)
        if conv is not None:
            started, finished = conv.record.start_ns, conv.record.end_ns
        conversation_id = _first_text(
            [conv, *turn_spans] if conv is not None else turn_spans, ATTR_CONVERSATION_ID
        )
        key = tree.spans[0].record.trace_id
        run = production_run(
            NAME,
            key,
            conversation_origin(spans),
            ns_to_datetime(started),
            finished_at=ns_to_datetime(finished),
            trace_id=key,
            spans=spans,
            conversation_id=conversation_id,
            call_sid=_first_text([conv] if conv else [], ATTR_CALL_SID),
            stream_sid=_first_text([conv] if conv else [], ATTR_STREAM_SID),
        )
        stages = _stages_by_turn(tree, turn_spans)
        last_number = (
            max(integer(t.record.attributes.get(ATTR_TURN_NUMBER)) or 0 for t in turn_spans)
            if turn_spans
            else 0
        )
        for span in turn_spans:
            run.turns.append(_turn(span, stages.get(span.record.span_id, []), last_number))
        failure = None
        if conv is not None and failed(conv):
            failure = (FailureClass.INTERNAL_ERROR.value, conv.record.status_message)
        return settle_status(run, failure)


def _is_conversation(span: IngestedSpan) -> bool:
    attrs = span.record.attributes
    return span.record.name == CONVERSATION and (
        span.scope in SCOPES or ATTR_CONVERSATION_ID in attrs
    )


def _turn_spans(tree: SpanTree) -> list[IngestedSpan]:
    """One span per turn number (a replayed or duplicated turn span counts once), by number."""
    by_number: dict[int, IngestedSpan] = {}
    for span in tree.named(TURN):
        number_ = integer(span.record.attributes.get(ATTR_TURN_NUMBER))
        if number_ is not None and number_ >= 1:
            by_number.setdefault(number_, span)
    return [by_number[n] for n in sorted(by_number)]


def _stages_by_turn(tree: SpanTree, turns: list[IngestedSpan]) -> dict[str, list[IngestedSpan]]:
    """Stage spans under each turn: by ancestry, else (a span parented to the conversation) by time."""
    ids = {t.record.span_id for t in turns}
    out: dict[str, list[IngestedSpan]] = {}
    for span in tree.named(STT, LLM, TTS):
        owner = tree.ancestor_in(span, ids)
        if owner is None:
            holder = containing(span, turns)
            owner = holder.record.span_id if holder is not None else None
        if owner is not None:
            out.setdefault(owner, []).append(span)
    return out


def _first_text(spans: Sequence[IngestedSpan | None], key: str) -> str | None:
    for s in spans:
        if s is not None and (value := text(s.record.attributes.get(key))):
            return value
    return None


def _turn(span: IngestedSpan, stages: list[IngestedSpan], last_number: int) -> TurnResult:
    attrs = span.record.attributes
    number_ = integer(attrs.get(ATTR_TURN_NUMBER)) or 1
    interrupted = bool(flag(attrs.get(ATTR_INTERRUPTED))) and number_ < last_number
    stt = [s for s in stages if s.record.name == STT]
    llm = [s for s in stages if s.record.name == LLM]
    tts = [s for s in stages if s.record.name == TTS]
    turn = TurnResult(
        turn_index=number_ - 1,
        started_at=ns_to_datetime(span.record.start_ns),
        reported_latency_ms=seconds_to_ms(attrs.get(ATTR_LATENCY_S)),
        interruptions=1 if interrupted else 0,
    )
    # The recogniser's figure for the turn is its last segment's (closest to the end of speech).
    stt_timed = [s for s in stt if number(s.record.attributes.get(ATTR_TTFB_S)) is not None]
    if stt_timed:
        last = stt_timed[-1]
        turn.stt_ttfb_ms = seconds_to_ms(last.record.attributes.get(ATTR_TTFB_S))
        if flag(last.record.attributes.get(ATTR_STT_INCOMPLETE)):
            refuse(
                turn, "stt_ttfb_ms", "incomplete", "the recogniser never finalised (stt.incomplete)"
            )
    # The first LLM call answers the caller; later ones in the turn follow tool calls.
    turn.llm_ttfb_ms = _first_seconds(llm, ATTR_TTFB_S)
    turn.tts_ttfb_ms = _first_seconds(tts, ATTR_TTFB_S)
    turn.input_tokens = _sum_ints(llm, ATTR_INPUT_TOKENS)
    turn.output_tokens = _sum_ints(llm, ATTR_OUTPUT_TOKENS)
    turn.tts_characters = _sum_ints(tts, ATTR_CHARACTERS)
    said = [t for s in tts if (t := text(s.record.attributes.get(ATTR_TTS_TEXT)))]
    if not said:
        said = [t for s in llm if (t := text(s.record.attributes.get(ATTR_LLM_OUTPUT)))]
    turn.transcript = " ".join(said) or None
    for s in stages:
        if failed(s):
            fail_turn(turn)
    cut = interrupted or any(flag(s.record.attributes.get(ATTR_TTS_INTERRUPTED)) for s in tts)
    return check_turn(turn, interrupted=cut)


def _first_seconds(spans: list[IngestedSpan], key: str) -> float | None:
    for s in spans:
        value = seconds_to_ms(s.record.attributes.get(key))
        if value is not None:
            return value
    return None


def _sum_ints(spans: list[IngestedSpan], key: str) -> int | None:
    values = [v for s in spans if (v := integer(s.record.attributes.get(key))) is not None]
    return sum(values) if values else None


__all__ = ["NAME", "SCOPES", "PipecatAdapter"]
