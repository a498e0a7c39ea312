"""Realistic production voice spans for the collector benchmark, as OTLP protobuf request bodies.

Each conversation is one trace: a ``conversation`` span and, per turn, a
``turn`` span with ``stt``, ``llm`` and ``tts`` children, each with about ten
attributes of the kinds Pipecat and LiveKit export (latencies, token and
character counts, model names) and free text (transcripts, LLM messages, TTS
text), some of it carrying personal data, so redaction does the work it
does in production. Texts are combined at random so almost none repeats:
the redactor's memo of repeated texts must not flatter the figure.
"""

from __future__ import annotations

import json
import os
import random
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

_SAID = [
    "I'd like to move my appointment to Thursday afternoon",
    "can you tell me what my balance is",
    "my number is four one five, five five five, {n} {m}",
    "the order number is {n}{m}{n}, it hasn't arrived yet",
    "yes that's right, the one on Main Street",
    "no, I said the blue one, not the green one",
    "my email is jane dot doe at example dot com",
    "I was charged twice for the same booking last week",
    "could you repeat that please, the line is a bit noisy",
    "I need to cancel and get a refund",
    "what time do you open tomorrow",
    "it's for two adults and one child",
]
_REPLY = [
    "Sure, I can help with that. Let me check the calendar for Thursday.",
    "Your current balance is {n}{m} dollars and {m} cents.",
    "I've found your order. It left our warehouse {n} days ago.",
    "Thanks, I have updated the delivery address on your account.",
    "I'm sorry about the double charge; I've opened a refund request for you.",
    "We open at {n} in the morning and close at {m} in the evening.",
    "Got it, I've booked a table for three at seven thirty.",
]


def _value(v: object) -> AnyValue:
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    return AnyValue(string_value=str(v))


def _attrs(span: object, values: dict[str, object]) -> None:
    span.attributes.extend(KeyValue(key=k, value=_value(v)) for k, v in values.items())  # type: ignore[attr-defined]


def _text(rng: random.Random, pool: list[str]) -> str:
    parts = rng.sample(pool, rng.randint(1, 2))
    return ". ".join(p.format(n=rng.randint(1, 9), m=rng.randint(10, 99)) for p in parts)


def conversation_requests(
    conversations: int, turns: int = 4, per_request: int = 512, seed: int = 7
) -> list[tuple[bytes, list[tuple[str, str]]]]:
    """Request bodies of about ``per_request`` spans each, with (trace id, span id) of each span."""
    rng = random.Random(seed)
    requests: list[tuple[bytes, list[tuple[str, str]]]] = []
    request = ExportTraceServiceRequest()
    ids: list[tuple[str, str]] = []

    def scope() -> object:
        rs = request.resource_spans.add()
        _attrs(rs.resource, {
            "service.name": "pipecat-bot", "deployment.environment": "production",
            "cloud.region": "us-east-1", "service.version": "1.4.2", "host.name": f"bot-{rng.randint(1, 40)}",
        })  # fmt: skip
        ss = rs.scope_spans.add()
        ss.scope.name = "pipecat"
        return ss

    ss = scope()
    count = 0
    for _ in range(conversations):
        trace_id = os.urandom(16)
        start = time.time_ns()
        conv_id = os.urandom(8)
        spans: list[tuple[str, bytes, bytes | None, dict[str, object]]] = []
        for t in range(turns):
            said, reply = _text(rng, _SAID), _text(rng, _REPLY)
            turn_id = os.urandom(8)
            spans.append(("turn", turn_id, conv_id, {
                "turn.number": t + 1, "turn.type": "conversation", "turn.user_bot_latency_seconds": rng.uniform(0.4, 1.6),
                "turn.was_interrupted": rng.random() < 0.1, "conversation.id": conv_id.hex(), "transcript": said,
                "metrics.ttfb": rng.uniform(0.1, 0.5), "turn.end_reason": "bot_stopped_speaking",
                "voice.audio_seconds": rng.uniform(1, 6), "session.id": trace_id.hex()[:12],
            }))  # fmt: skip
            spans.append(("stt", os.urandom(8), turn_id, {
                "gen_ai.system": "deepgram", "gen_ai.request.model": "nova-3", "metrics.ttfb": rng.uniform(0.05, 0.3),
                "transcript": said, "is_final": True, "language": "en-US", "vad.enabled": True,
                "voice.audio_seconds": rng.uniform(1, 6), "stt.confidence": rng.uniform(0.7, 1.0), "settings.encoding": "linear16",
            }))  # fmt: skip
            messages = json.dumps([
                {"role": "system", "content": "You are a helpful phone agent for a delivery company."},
                {"role": "user", "content": said},
            ])  # fmt: skip
            spans.append(("llm", os.urandom(8), turn_id, {
                "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": rng.randint(200, 2000),
                "gen_ai.usage.output_tokens": rng.randint(10, 80), "metrics.ttfb": rng.uniform(0.2, 0.9), "input": messages,
                "output": reply, "gen_ai.request.temperature": 0.7, "stream": True, "tools.count": 2,
            }))  # fmt: skip
            spans.append(("tts", os.urandom(8), turn_id, {
                "gen_ai.system": "cartesia", "voice_id": "a0e99841-438c", "metrics.ttfb": rng.uniform(0.08, 0.4),
                "metrics.character_count": len(reply), "text": reply, "settings.sample_rate": 16000,
                "voice.output_chars": len(reply), "settings.encoding": "pcm_s16le", "model": "sonic-2", "cached": False,
            }))  # fmt: skip
        spans.append(("conversation", conv_id, None, {"conversation.id": conv_id.hex(), "conversation.type": "voice"}))
        for i, (name, span_id, parent, attributes) in enumerate(spans):
            s = ss.spans.add()  # type: ignore[attr-defined]
            s.trace_id, s.span_id, s.name, s.kind = trace_id, span_id, name, 1
            if parent is not None:
                s.parent_span_id = parent
            s.start_time_unix_nano = start + i * 50_000_000
            s.end_time_unix_nano = s.start_time_unix_nano + rng.randint(20, 900) * 1_000_000
            _attrs(s, attributes)
            ids.append((trace_id.hex(), span_id.hex()))
            count += 1
            if count == per_request:
                requests.append((request.SerializeToString(), ids))
                request, ids, count = ExportTraceServiceRequest(), [], 0
                ss = scope()
    if count:
        requests.append((request.SerializeToString(), ids))
    return requests


__all__ = ["conversation_requests"]
