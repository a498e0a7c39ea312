"""The generic schema: voiceobs attribute names for a bot built on anything else.

A bot on another framework (or its own code) is a production source when
its spans use these names; docs/production.md is the user's copy of this
table, and the reference pipelines already emit the stage spans.

Spans (any tracer name except ``voiceobs.probe``, the probe's own):

``voice.conversation`` (optional, one per call)
    Ends when the call ends, which completes the call at once (without it
    the call closes after the collector's idle timeout). Attributes:
    ``voice.conversation_id`` (the join key: set it to the Twilio call SID
    or stream SID), ``voice.call_sid``, ``voice.stream_sid``,
    ``voice.failure_class`` (one of voiceobs' failure classes: the call failed).
``voice.turn`` (optional, one per bot reply)
    ``voice.turn.index`` (from 0), ``voice.reported_latency_ms`` (the bot's
    own voice-to-voice figure), ``voice.endpointing_delay_ms``,
    ``voice.interrupted`` (bool) or ``voice.interruptions`` (count),
    ``voice.transcript`` (what the bot said), ``voice.tts_characters``.
Stage spans ``vad``, ``asr``, ``respond``, ``tts`` (``transport``)
    Children of a ``voice.turn`` span, or (without turn spans) of one common
    parent per turn, as the reference pipelines' spans are children of the
    probe's turn span. They carry the cost drivers: ``voice.audio_seconds``
    (vad, asr, tts), ``voice.context_tokens`` (respond: input tokens),
    ``voice.output_chars`` (respond: reply length; tts: characters
    synthesised), and optionally ``voice.ttfb_ms`` (the stage's time to
    first result), ``voice.input_tokens``, ``voice.output_tokens``,
    ``voice.intent``. Any of the turn attributes may sit on a stage span
    instead.

Measures: ``reported_latency_ms`` and ``endpointing_delay_ms`` as given;
``stt_ttfb_ms`` / ``llm_ttfb_ms`` / ``tts_ttfb_ms`` from the ``asr`` /
``respond`` / ``tts`` span's ``voice.ttfb_ms``, else its duration (a stage
span lasts until its first result in the reference pipelines: a batch
recognition, a whole reply, the first sentence's audio); ``input_tokens``
from ``voice.input_tokens``, else ``voice.context_tokens``;
``tts_characters`` from ``voice.tts_characters``, else the ``tts`` spans'
``voice.output_chars``. Every ``*_ms`` attribute is in milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence

from voiceobs.collect.adapters.origin import conversation_origin
from voiceobs.collect.adapters.production import (
    FAILURE_CLASSES,
    fail_turn,
    production_run,
    settle_status,
)
from voiceobs.collect.adapters.spans import (
    SpanTree,
    duration_ms,
    failed,
    flag,
    integer,
    ns_to_datetime,
    number,
    text,
)
from voiceobs.collect.model import IngestedSpan
from voiceobs.collect.plausible import check_turn
from voiceobs.errors import FailureClass
from voiceobs.results import RunResult, TurnResult

NAME = "generic"

CONVERSATION = "voice.conversation"
TURN = "voice.turn"
STAGES = ("vad", "asr", "respond", "tts", "transport")

#: The probe's own spans carry voice.* attributes too; they are never a production call.
PROBE_SCOPE = "voiceobs.probe"

ATTR_CONVERSATION_ID = "voice.conversation_id"
ATTR_CALL_SID = "voice.call_sid"
ATTR_STREAM_SID = "voice.stream_sid"
ATTR_FAILURE_CLASS = "voice.failure_class"
ATTR_TURN_INDEX = "voice.turn.index"
ATTR_REPORTED_LATENCY_MS = "voice.reported_latency_ms"
ATTR_ENDPOINTING_DELAY_MS = "voice.endpointing_delay_ms"
ATTR_INTERRUPTED = "voice.interrupted"
ATTR_INTERRUPTIONS = "voice.interruptions"
ATTR_TRANSCRIPT = "voice.transcript"
ATTR_TTS_CHARACTERS = "voice.tts_characters"
ATTR_TTFB_MS = "voice.ttfb_ms"
ATTR_INPUT_TOKENS = "voice.input_tokens"
ATTR_OUTPUT_TOKENS = "voice.output_tokens"
ATTR_CONTEXT_TOKENS = "voice.context_tokens"
ATTR_OUTPUT_CHARS = "voice.output_chars"
ATTR_INTENT = "voice.intent"

#: The measures reported under a name that says milliseconds (the seconds-as-ms rule applies).
MS_NAMED = (
    "reported_latency_ms",
    "endpointing_delay_ms",
    "stt_ttfb_ms",
    "llm_ttfb_ms",
    "tts_ttfb_ms",
)

_STAGE_TTFB = {"asr": "stt_ttfb_ms", "respond": "llm_ttfb_ms", "tts": "tts_ttfb_ms"}


class GenericAdapter:
    """Spans in voiceobs' own vocabulary (``voice.*``) from any bot, as production calls."""

    name = NAME

    def recognises(self, span: IngestedSpan) -> bool:
        """Spans named in the schema or carrying ``voice.*`` attributes, except the probe's own."""
        if span.scope == PROBE_SCOPE:
            return False
        if span.record.name in (CONVERSATION, TURN):
            return True
        return any(k.startswith("voice.") for k in span.record.attributes)

    def complete(self, spans: Sequence[IngestedSpan]) -> bool:
        """A ``voice.conversation`` span ends with the call."""
        return any(s.record.name == CONVERSATION and s.scope != PROBE_SCOPE for s in spans)

    def build(self, spans: Sequence[IngestedSpan]) -> RunResult | None:
        """One turn per ``voice.turn`` span, else per group of stage spans under one parent."""
        own = [s for s in spans if self.recognises(s)]
        if not own:
            return None
        tree = SpanTree(own)
        conv = next(iter(tree.named(CONVERSATION)), None)
        started = conv.record.start_ns if conv else min(s.record.start_ns for s in own)
        finished = conv.record.end_ns if conv else max(s.record.end_ns for s in own)
        key = own[0].record.trace_id
        run = production_run(
            NAME,
            key,
            conversation_origin(own),
            ns_to_datetime(started),
            finished_at=ns_to_datetime(finished),
            trace_id=key,
            spans=spans,
            conversation_id=_text(tree.spans, ATTR_CONVERSATION_ID),
            call_sid=_text(tree.spans, ATTR_CALL_SID),
            stream_sid=_text(tree.spans, ATTR_STREAM_SID),
        )
        for i, (head, parts) in enumerate(_turns(tree)):
            run.turns.append(_turn(i, head, parts))
        failure = None
        if conv is not None:
            cls = text(conv.record.attributes.get(ATTR_FAILURE_CLASS))
            if cls or failed(conv):
                failure = (
                    cls if cls in FAILURE_CLASSES else FailureClass.INTERNAL_ERROR.value,
                    conv.record.status_message,
                )
        return settle_status(run, failure)


def _text(spans: Sequence[IngestedSpan], key: str) -> str | None:
    return next((v for s in spans if (v := text(s.record.attributes.get(key)))), None)


def _turns(tree: SpanTree) -> list[tuple[IngestedSpan | None, list[IngestedSpan]]]:
    """(turn span or None, the turn's spans) in turn order."""
    heads = tree.named(TURN)
    groups: list[tuple[IngestedSpan | None, list[IngestedSpan]]]
    if heads:
        ids = {h.record.span_id for h in heads}
        below: dict[str, list[IngestedSpan]] = {i: [] for i in ids}
        for s in tree.spans:
            owner = tree.ancestor_in(s, ids)
            if owner is not None:
                below[owner].append(s)
        groups = [(h, below[h.record.span_id]) for h in heads]
    else:
        # Without turn spans a turn is a run of stage spans: a new one starts at each `vad`
        # (the caller's utterance), at a stage seen already in the run, or under a new parent.
        # The reference pipelines parent every stage span to the probe's call span, so the
        # parent alone cannot tell their turns apart.
        groups = []
        current: list[IngestedSpan] = []
        for s in tree.spans:
            if s.record.name not in STAGES:
                continue
            if current and (
                s.record.name == "vad"
                or s.record.name in {c.record.name for c in current}
                or s.record.parent_span_id != current[0].record.parent_span_id
            ):
                groups.append((None, current))
                current = []
            current.append(s)
        if current:
            groups.append((None, current))

    def order(group: tuple[IngestedSpan | None, list[IngestedSpan]]) -> tuple[float, int]:
        head, parts = group
        spans = [head, *parts] if head is not None else parts
        index = next(
            (
                v
                for s in spans
                if (v := integer(s.record.attributes.get(ATTR_TURN_INDEX))) is not None
            ),
            None,
        )
        first = min(s.record.start_ns for s in spans) if spans else 0
        return (index if index is not None else float("inf"), first)

    return sorted(groups, key=order)


def _turn(position: int, head: IngestedSpan | None, parts: list[IngestedSpan]) -> TurnResult:
    spans = [head, *parts] if head is not None else parts

    def attr(key: str) -> object:
        return next((s.record.attributes[key] for s in spans if key in s.record.attributes), None)

    index = integer(attr(ATTR_TURN_INDEX))
    start = min(s.record.start_ns for s in spans)
    turn = TurnResult(
        turn_index=index if index is not None and index >= 0 else position,
        started_at=ns_to_datetime(start),
        reported_latency_ms=number(attr(ATTR_REPORTED_LATENCY_MS)),
        endpointing_delay_ms=number(attr(ATTR_ENDPOINTING_DELAY_MS)),
        transcript=text(attr(ATTR_TRANSCRIPT)),
        intent=text(attr(ATTR_INTENT)),
    )
    interruptions = integer(attr(ATTR_INTERRUPTIONS))
    if interruptions is None and (interrupted := flag(attr(ATTR_INTERRUPTED))) is not None:
        interruptions = 1 if interrupted else 0
    turn.interruptions = interruptions
    for stage, measure in _STAGE_TTFB.items():
        first = next((s for s in parts if s.record.name == stage), None)
        if first is not None:
            ttfb = number(first.record.attributes.get(ATTR_TTFB_MS))
            setattr(turn, measure, ttfb if ttfb is not None else duration_ms(first))
    respond = [s for s in parts if s.record.name == "respond"]
    tts = [s for s in parts if s.record.name == "tts"]
    turn.input_tokens = integer(attr(ATTR_INPUT_TOKENS))
    if turn.input_tokens is None:
        turn.input_tokens = _sum(respond, ATTR_CONTEXT_TOKENS)
    turn.output_tokens = integer(attr(ATTR_OUTPUT_TOKENS))
    turn.tts_characters = integer(attr(ATTR_TTS_CHARACTERS))
    if turn.tts_characters is None:
        turn.tts_characters = _sum(tts, ATTR_OUTPUT_CHARS)
    for s in spans:
        cls = text(s.record.attributes.get(ATTR_FAILURE_CLASS))
        if cls or failed(s):
            fail_turn(turn, cls or FailureClass.INTERNAL_ERROR.value)
    return check_turn(turn, interrupted=bool(turn.interruptions), ms_named=MS_NAMED)


def _sum(spans: list[IngestedSpan], key: str) -> int | None:
    values = [v for s in spans if (v := integer(s.record.attributes.get(key))) is not None]
    return sum(values) if values else None


__all__ = ["NAME", "GenericAdapter"]
