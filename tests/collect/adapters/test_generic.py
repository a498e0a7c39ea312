"""The generic schema: the reference agent pipeline's own spans, and a bot written to the documented names."""

from __future__ import annotations

import asyncio

import pytest

from tests.collect.otel import Tracing
from tests.helpers import make_spec
from voiceobs.collect.adapters import span_adapters
from voiceobs.collect.adapters.generic import GenericAdapter
from voiceobs.collect.assembly import CallAssembler
from voiceobs.pipelines import telemetry
from voiceobs.probe.runner import run_spec_async
from voiceobs.server import ServerConfig, running_server

RESOURCE = {
    "service.name": "house-bot",
    "deployment.environment": "staging",
    "voiceobs.label.team": "voice",
}


@pytest.fixture
def pipeline_tracing(monkeypatch: pytest.MonkeyPatch) -> Tracing:
    """The reference pipelines' tracer, pointed at a provider of this test's own.

    The pipelines trace through the global provider, which a process may set
    only once (another test folder owns it); replacing their module's tracer
    for the test keeps both.
    """
    tracing = Tracing({"service.name": "reference-agent", "deployment.environment.name": "demo"})
    monkeypatch.setattr(telemetry, "_tracer", tracing.tracer("voiceobs.pipelines"))
    return tracing


@pytest.mark.slow
def test_the_reference_agent_pipelines_spans_are_a_production_call(
    pipeline_tracing: Tracing,
) -> None:
    """The spans the reference pipeline emits (stage spans under the probe's call span) make a call."""
    with running_server(ServerConfig(pipeline="agent", port=0, device="cpu")) as srv:
        spec = make_spec(
            srv.ws_url + "/twilio",
            pipeline="agent",
            timeouts={"connect_s": 5, "first_audio_s": 8, "call_s": 60},
            turns=[
                {"prompt": "What are your opening hours?", "end_silence_ms": 800},
                {"prompt": "Please cancel my order.", "end_silence_ms": 800},
            ],
        )
        (probe,) = asyncio.run(run_spec_async(spec))
    mine = [s for s in pipeline_tracing.spans() if s.record.trace_id == probe.trace_id]
    assert {s.record.name for s in mine} >= {"vad", "asr", "respond", "tts", "transport"}
    asm = CallAssembler(span_adapters(), idle_timeout_s=1.0)
    asm.add(mine)
    (run,) = asm.due(now=asm.clock() + 2)  # no conversation span: it closes when idle
    assert (run.framework, run.source) == ("generic", "production")
    assert (run.service, run.deployment) == ("reference-agent", "demo")
    # One trace with the probe: the store joins the two records by it.
    assert run.trace_id == probe.trace_id
    assert [t.turn_index for t in run.turns] == [0, 1]
    respond = [s for s in mine if s.record.name == "respond"]
    tts = [s for s in mine if s.record.name == "tts"]
    for turn, r, t in zip(run.turns, respond, tts, strict=True):
        assert turn.intent == r.record.attributes["voice.intent"]
        assert turn.input_tokens == r.record.attributes["voice.context_tokens"]
        assert turn.tts_characters == t.record.attributes["voice.output_chars"]
        assert turn.llm_ttfb_ms == pytest.approx((r.record.end_ns - r.record.start_ns) / 1e6)
        assert turn.stt_ttfb_ms is not None and turn.tts_ttfb_ms is not None
    # The second turn's context holds the first exchange: its input is the larger.
    assert run.turns[1].input_tokens > run.turns[0].input_tokens  # type: ignore[operator]


def _bot(*, failure: str | None = None) -> list:
    t = Tracing(RESOURCE)
    tracer = t.tracer("house.bot")
    conv_attrs = {
        "voice.conversation_id": "MZ99",
        "voice.call_sid": "CA99",
        "voice.stream_sid": "MZ99",
    }
    if failure:
        conv_attrs["voice.failure_class"] = failure
    with t.span(tracer, "voice.conversation", 0, 5000, attributes=conv_attrs) as conv:
        turn0 = {"voice.turn.index": 0, "voice.reported_latency_ms": 640.0, "voice.endpointing_delay_ms": 300.0,
                 "voice.transcript": "We open at nine.", "voice.interrupted": False, "voice.tts_characters": 16}  # fmt: skip
        with t.span(tracer, "voice.turn", 100, 2000, conv, turn0) as turn:
            with t.span(
                tracer, "asr", 110, 300, turn, {"voice.ttfb_ms": 150.0, "voice.audio_seconds": 1.1}
            ):
                pass
            with t.span(tracer, "respond", 310, 700, turn, {"voice.input_tokens": 210, "voice.output_tokens": 9,
                                                             "voice.context_tokens": 12}):  # fmt: skip
                pass
        # Units named in milliseconds: 0.7 here is seconds in a millisecond field.
        turn1 = {"voice.turn.index": 1, "voice.reported_latency_ms": 0.7, "voice.interruptions": 2}
        with (
            t.span(tracer, "voice.turn", 2100, 4000, conv, turn1) as turn,
            t.span(
                tracer,
                "tts",
                2500,
                2600,
                turn,
                {"voice.output_chars": 40},
                error="tts provider 503",
            ),
        ):
            pass
    return t.spans()


def test_a_bot_written_to_the_schema_maps_every_documented_name() -> None:
    run = GenericAdapter().build(_bot())
    assert run is not None
    assert (run.service, run.deployment, run.labels) == ("house-bot", "staging", {"team": "voice"})
    assert (run.conversation_id, run.call_sid, run.stream_sid) == ("MZ99", "CA99", "MZ99")
    first, second = run.turns
    assert (first.reported_latency_ms, first.endpointing_delay_ms, first.stt_ttfb_ms) == (
        640.0,
        300.0,
        150.0,
    )
    assert first.llm_ttfb_ms == pytest.approx(390.0)  # no voice.ttfb_ms: the span's duration
    assert (first.input_tokens, first.output_tokens, first.tts_characters) == (210, 9, 16)
    assert (first.interruptions, first.transcript, first.ok) == (0, "We open at nine.", True)
    assert second.reported_latency_ms is None and second.flags["reported_latency_ms"].startswith(
        "seconds_as_ms:"
    )
    assert second.interruptions == 2
    assert second.tts_ttfb_ms is None and second.flags["tts_ttfb_ms"].startswith("interrupted:")
    assert (second.ok, second.failure_class) == (False, "internal_error")
    assert (run.status, run.failure_class) == ("failed", "internal_error")


def test_a_failure_class_on_the_conversation_fails_the_call_with_it() -> None:
    run = GenericAdapter().build(_bot(failure="no_audio"))
    assert run is not None and (run.status, run.failure_class) == ("failed", "no_audio")
    odd = GenericAdapter().build(_bot(failure="exploded"))
    assert odd is not None and odd.failure_class == "internal_error"


def test_the_probes_own_spans_are_never_a_production_call() -> None:
    t = Tracing({"service.name": "voiceobs-probe"})
    probe = t.tracer("voiceobs.probe")
    with (
        t.span(probe, "call", 0, 3000, attributes={"voice.connect_ms": 12.0}) as call,
        t.span(probe, "turn", 10, 2000, call, {"voice.turn_index": 0}),
    ):
        pass
    adapter = GenericAdapter()
    spans = t.spans()
    assert not any(adapter.recognises(s) for s in spans)
    assert adapter.build(spans) is None
    asm = CallAssembler(span_adapters(), idle_timeout_s=1.0)
    asm.add(spans)
    assert asm.due(now=asm.clock() + 2) == [] and asm.stats.unrecognised == 1
