"""Calls assembled from spans that come in pieces, out of order, twice, late, or never finish.

The spans are real SDK spans in the generic schema (what a bot on any
framework emits), and the adapters are the real ones, in the order the
collector uses them. The clock is injected: the assembler's timeouts are
logic, not wall time.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence

import pytest

from tests.collect.otel import Tracing
from voiceobs.collect.adapters import span_adapters
from voiceobs.collect.adapters.generic import GenericAdapter
from voiceobs.collect.assembly import CallAssembler
from voiceobs.collect.model import IngestedSpan
from voiceobs.recording import record
from voiceobs.results import RunResult, SpanRecord
from voiceobs.store import Store

RESOURCE = {
    "service.name": "acme-bot",
    "deployment.environment.name": "prod",
    "cloud.region": "eu-west-1",
}


class Clock:
    """Monotonic seconds the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def call_spans(
    turns: int = 2, *, end: bool = True, conversation_id: str = "CA42", latency_ms: float = 700.0
) -> list[IngestedSpan]:
    """One call in the generic schema: a conversation span, a turn span per reply, stage spans below."""
    t = Tracing(RESOURCE)
    tracer = t.tracer("acme.voice")
    length = 1000.0 * turns + 500
    with t.span(
        tracer,
        "voice.conversation",
        0,
        length,
        attributes={"voice.conversation_id": conversation_id},
    ) as conv:
        for i in range(turns):
            base = 1000.0 * i
            attrs = {
                "voice.turn.index": i,
                "voice.reported_latency_ms": latency_ms + i,
                "voice.transcript": f"reply {i}",
            }
            with t.span(tracer, "voice.turn", base, base + 900, conv, attrs) as turn:
                with t.span(
                    tracer, "asr", base + 10, base + 190, turn, {"voice.audio_seconds": 1.2}
                ):
                    pass
                with t.span(
                    tracer,
                    "respond",
                    base + 200,
                    base + 450,
                    turn,
                    {"voice.context_tokens": 10 + i},
                ):
                    pass
                with t.span(
                    tracer, "tts", base + 460, base + 600, turn, {"voice.output_chars": 30}
                ):
                    pass
    # The conversation span is what a crashed bot never exports.
    return [s for s in t.spans() if end or s.record.name != "voice.conversation"]


def assembler(clock: Clock, **kwargs: object) -> CallAssembler:
    return CallAssembler(span_adapters(), idle_timeout_s=30.0, grace_s=120.0, clock=clock, **kwargs)  # type: ignore[arg-type]


def summary(run: RunResult) -> tuple:
    return (
        run.id,
        run.framework,
        run.status,
        run.conversation_id,
        [
            (
                t.turn_index,
                t.reported_latency_ms,
                t.stt_ttfb_ms,
                t.input_tokens,
                t.tts_characters,
                t.transcript,
            )
            for t in run.turns
        ],
        sorted(s.span_id for s in run.spans),
    )


def test_a_call_is_emitted_once_when_its_end_arrives_whatever_the_order_and_batching() -> None:
    spans = call_spans()
    clock = Clock()
    in_order = assembler(clock)
    in_order.add(spans)
    expected = in_order.due()
    assert len(expected) == 1 and len(expected[0].turns) == 2

    shuffled = spans[:]
    random.Random(7).shuffle(shuffled)
    shuffled.sort(key=lambda s: s.record.name == "voice.conversation")  # the end comes last
    asm = assembler(clock)
    for batch in (shuffled[:3], shuffled[3:6], shuffled[6:-1]):
        asm.add(batch)
        clock.now += 1
        assert asm.due() == [], "no call before its end (or the idle timeout)"
    asm.add(shuffled[-1:])
    got = asm.due()
    assert [summary(r) for r in got] == [summary(r) for r in expected]
    run = got[0]
    assert (run.source, run.service, run.deployment, run.region) == (
        "production",
        "acme-bot",
        "prod",
        "eu-west-1",
    )
    assert run.trace_id == spans[0].record.trace_id
    assert [t.reported_latency_ms for t in run.turns] == [700.0, 701.0]
    assert run.turns[0].stt_ttfb_ms == pytest.approx(180.0)  # the asr span's duration
    assert asm.due() == []


def test_a_replayed_batch_changes_nothing() -> None:
    spans = call_spans()
    clock = Clock()
    asm = assembler(clock)
    assert asm.add(spans) == len(spans)
    first = asm.due()
    assert asm.add(spans) == 0
    assert asm.add(list(reversed(spans))) == 0
    assert asm.due() == []
    assert asm.stats.duplicates == 2 * len(spans)
    assert asm.stats.calls_emitted == 1 and asm.stats.calls_reemitted == 0
    assert len(first) == 1


def test_a_conversation_that_never_ends_closes_after_the_idle_timeout() -> None:
    spans = call_spans(end=False)
    assert not any(s.record.name == "voice.conversation" for s in spans)
    clock = Clock()
    asm = assembler(clock)
    asm.add(spans)
    clock.now += 29.9
    assert asm.due() == []
    clock.now += 0.2
    (run,) = asm.due()
    assert len(run.turns) == 2 and run.conversation_id is None
    # Its start and end are the spans' own, not the collector's clock.
    assert run.finished_at is not None and run.finished_at > run.started_at


def test_a_late_span_re_emits_the_call_under_the_same_id() -> None:
    spans = call_spans(turns=3)
    late = [s for s in spans if s.record.attributes.get("voice.turn.index") == 2]
    early = [s for s in spans if s not in late]
    clock = Clock()
    asm = assembler(clock)
    asm.add(early)
    (first,) = asm.due()
    assert [t.turn_index for t in first.turns] == [0, 1]
    clock.now += 5
    asm.add(late)
    (second,) = asm.due()
    assert second.id == first.id
    assert [t.turn_index for t in second.turns] == [0, 1, 2]
    assert asm.stats.calls_reemitted == 1
    assert asm.due() == []


def test_ids_are_stable_per_conversation_and_distinct_between_them() -> None:
    a, b = call_spans(), call_spans()
    clock = Clock()
    one, two = assembler(clock), assembler(clock)
    one.add(a + b)
    two.add(list(reversed(a + b)))
    ids_one = {r.trace_id: r.id for r in one.due()}
    ids_two = {r.trace_id: r.id for r in two.due()}
    assert ids_one == ids_two and len(set(ids_one.values())) == 2


def test_the_open_conversation_cap_emits_the_oldest_before_evicting_it() -> None:
    clock = Clock()
    asm = assembler(clock, max_conversations=2)
    calls = [call_spans(end=False, conversation_id=f"C{i}") for i in range(3)]
    for spans in calls:
        asm.add(spans)
        clock.now += 1
    assert asm.open_conversations == 2
    assert asm.stats.evicted_open == 1
    (evicted,) = asm.due()  # emitted with what it had, not lost
    assert evicted.trace_id == calls[0][0].record.trace_id and len(evicted.turns) == 2


def test_the_span_cap_holds_and_counts_what_it_refuses() -> None:
    spans = call_spans()
    clock = Clock()
    asm = assembler(clock, max_spans_per_conversation=5)
    asm.add(spans)
    assert asm.held_spans == 5
    assert asm.stats.spans_over_cap == len(spans) - 5


def test_released_calls_drop_their_spans_and_stay_idempotent() -> None:
    spans = call_spans(turns=3)
    late = [s for s in spans if s.record.attributes.get("voice.turn.index") == 2]
    early = [s for s in spans if s not in late]
    clock = Clock()
    asm = assembler(clock)
    asm.add(early)
    (_first,) = asm.due()
    clock.now += 121
    assert asm.due() == []
    assert asm.held_spans == 0 and asm.stats.released == 1
    # A replay of spans it had is still nothing.
    assert asm.add(early) == 0 and asm.due() == []
    # A new span cannot be merged into spans no longer held: it is counted, not applied.
    assert asm.add(late) == 0
    assert asm.due() == [] and asm.stats.late_dropped == len(late)


def test_with_reload_a_late_span_rebuilds_a_released_call_whole() -> None:
    spans = call_spans(turns=3)
    late = [s for s in spans if s.record.attributes.get("voice.turn.index") == 2]
    early = [s for s in spans if s not in late]
    stored: dict[str, list[SpanRecord]] = {}

    def reload(trace_id: str) -> Sequence[SpanRecord]:
        return stored.get(trace_id, [])

    clock = Clock()
    asm = assembler(clock, reload=reload)
    asm.add(early)
    (first,) = asm.due()
    stored[first.trace_id or ""] = list(first.spans)  # what the store kept
    clock.now += 121
    asm.due()
    assert asm.held_spans == 0
    asm.add(late)
    (rebuilt,) = asm.due()
    assert rebuilt.id == first.id
    assert [t.turn_index for t in rebuilt.turns] == [0, 1, 2]
    assert (rebuilt.service, rebuilt.deployment) == (
        "acme-bot",
        "prod",
    )  # the sender, from the tombstone
    assert asm.stats.reloaded == 1


def test_traces_no_adapter_knows_are_forgotten_after_the_idle_timeout() -> None:
    t = Tracing(RESOURCE)
    web = t.tracer("opentelemetry.instrumentation.fastapi")
    with t.span(web, "GET /health", 0, 3, attributes={"http.route": "/health"}):
        pass
    clock = Clock()
    asm = assembler(clock)
    asm.add(t.spans())
    clock.now += 31
    assert asm.due() == []
    assert asm.open_conversations == 0 and asm.stats.unrecognised == 1


def test_a_more_specific_adapter_takes_a_trace_over() -> None:
    t = Tracing(RESOURCE)
    voice = t.tracer("acme.voice")
    pipecat = t.tracer("pipecat.turn")
    with t.span(voice, "db.lookup", 0, 5, attributes={"voice.stream_sid": "MZ1"}):
        pass
    turn = {"turn.number": 1, "turn.user_bot_latency_seconds": 0.6}
    with (
        t.span(pipecat, "conversation", 0, 2000, attributes={"conversation.id": "CA9"}) as conv,
        t.span(pipecat, "turn", 10, 1500, conv, turn),
    ):
        pass
    spans = t.spans()
    clock = Clock()
    asm = assembler(clock)
    asm.add(spans[:1])  # the generic schema's span first
    asm.add(spans[1:])
    (run,) = asm.due()
    assert run.framework == "pipecat" and run.conversation_id == "CA9"
    assert run.turns[0].reported_latency_ms == pytest.approx(600.0)


def test_flush_all_emits_what_is_open_and_forgets_everything() -> None:
    clock = Clock()
    asm = assembler(clock)
    asm.add(call_spans(end=False))
    asm.add(call_spans())
    out = asm.flush_all()
    assert len(out) == 2
    assert asm.open_conversations == 0 and asm.flush_all() == []


def test_refused_values_are_counted_once_across_re_emits() -> None:
    spans = call_spans(latency_ms=-5.0)
    clock = Clock()
    asm = assembler(clock)
    asm.add(spans[:4])
    clock.now += 31
    asm.due()
    asm.add(spans[4:])
    asm.due()
    assert asm.stats.calls_reemitted == 1
    assert asm.refusals.snapshot() == {("generic", "reported_latency_ms", "negative"): 2}


def test_a_failing_adapter_is_counted_and_does_not_stop_the_others() -> None:
    class Broken(GenericAdapter):
        def build(self, spans: Sequence[IngestedSpan]) -> RunResult | None:
            raise RuntimeError("bug in an adapter")

    good = call_spans()
    bad = [dataclasses.replace(s, scope="broken") for s in call_spans()]

    class OnlyBroken(Broken):
        def recognises(self, span: IngestedSpan) -> bool:
            return span.scope == "broken"

    clock = Clock()
    asm = CallAssembler([OnlyBroken(), GenericAdapter()], clock=clock, idle_timeout_s=30.0)
    asm.add(bad + good)
    out = asm.due()
    assert [r.trace_id for r in out] == [good[0].record.trace_id]
    assert asm.stats.build_errors == 1


def test_spans_without_ids_are_refused() -> None:
    span = call_spans()[0]
    broken = dataclasses.replace(span, record=dataclasses.replace(span.record, span_id=""))
    asm = assembler(Clock())
    assert asm.add([broken]) == 0 and asm.stats.invalid == 1


def test_a_re_emitted_call_replaces_the_stored_one(store: Store) -> None:
    """What due() emits goes through the recording path; a late span's re-emit rewrites the call."""
    spans = call_spans(turns=3)
    late = [s for s in spans if s.record.attributes.get("voice.turn.index") == 2]
    clock = Clock()
    asm = assembler(clock)
    asm.add([s for s in spans if s not in late])
    record(asm.due(), store=store, replace=True)
    asm.add(late)
    (second,) = asm.due()
    record([second], store=store, replace=True)
    assert store.count_runs() == 1
    row = store.get_run(second.id)
    assert row is not None and [t.turn_index for t in row.turns] == [0, 1, 2]
    assert len(store.spans_for_run(second.id)) == len(spans)


@pytest.mark.parametrize("junk", ["x", "", [1, "a"], {"k": "v"}, True, -1, 1e308, "[REDACTED]"])
def test_odd_attribute_values_never_break_an_adapter(junk: object) -> None:
    """Whatever a sender (or the redactor) puts in an attribute, every adapter still builds the call."""
    t = Tracing(RESOURCE)
    pipecat, lk = t.tracer("pipecat.turn"), t.tracer("livekit-agents")
    interrupted = {"turn.number": 1, "turn.was_interrupted": True}
    with (
        t.span(pipecat, "conversation", 0, 3000, attributes={"conversation.id": "CA1"}) as conv,
        t.span(pipecat, "turn", 0, 2000, conv, interrupted) as turn,
        t.span(pipecat, "llm", 10, 20, turn, {"metrics.ttfb": 0.1}),
    ):
        pass
    with t.span(lk, "agent_session", 0, 3000) as session:
        with t.span(lk, "user_turn", 0, 900, session, {"lk.end_of_turn_delay": 0.0}):
            pass
        with (
            t.span(lk, "agent_turn", 1000, 2000, session, {"lk.e2e_latency": 0.8}) as reply,
            t.span(lk, "tts_request", 1001, 1500, reply, {"lk.tts_metrics": "{}"}),
        ):
            pass
    clean = call_spans() + t.spans()
    odd = [
        dataclasses.replace(
            s,
            record=dataclasses.replace(
                s.record, attributes=dict.fromkeys(s.record.attributes, junk)
            ),
        )
        for s in clean
    ]
    asm = CallAssembler(span_adapters(), idle_timeout_s=1.0, clock=Clock())
    asm.add(odd)
    out = asm.due(now=asm.clock() + 2)
    assert asm.stats.build_errors == 0
    assert {r.framework for r in out} <= {"generic", "pipecat", "livekit"}
