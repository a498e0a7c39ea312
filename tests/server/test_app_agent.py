"""The agent pipeline end to end: spoken prompts in, the right spoken replies out."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from voiceobs.audio.g711 import float_to_int16, mulaw_decode, mulaw_encode
from voiceobs.audio.tts import Voice, parse_voice, render_speech
from voiceobs.pipelines.agent import AgentSettings
from voiceobs.pipelines.responder import IntentResponder
from voiceobs.pipelines.speech import split_sentences
from voiceobs.server import ServerConfig, ServerHandle, running_server

from .conftest import speak, twilio_call

pytestmark = pytest.mark.slow

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@pytest.fixture(scope="module")
def agent(span_exporter: InMemorySpanExporter) -> ServerHandle:
    with running_server(ServerConfig(pipeline="agent", port=0, device="cpu")) as srv:
        yield srv


def golden_8k(text: str, voice: Voice | None = None) -> np.ndarray:
    """What the agent must send: the first sentence of the reply, in its voice, through mu-law."""
    first = split_sentences(text)[0]
    audio = render_speech(first, 8000, voice or AgentSettings().voice)
    return mulaw_decode(mulaw_encode(float_to_int16(audio)))


def test_the_agent_speaks_with_hibari_by_default() -> None:
    assert AgentSettings().voice == parse_voice("hibari")


@pytest.mark.parametrize(
    ("prompt", "intent"),
    [
        ("What are your opening hours?", "hours"),
        ("Please cancel my order.", "cancel"),
        ("Let me talk to a human agent.", "agent"),
        ("I would like to book an appointment.", "appointment"),
    ],
)
async def test_agent_answers_with_the_right_intent(
    agent: ServerHandle, span_exporter: InMemorySpanExporter, prompt: str, intent: str
) -> None:
    reply = next(i.reply for i in IntentResponder().intents if i.name == intent)
    span_exporter.clear()
    params = {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"}
    # long enough for the longest of these replies (hours, about 4.6 s)
    got, last_sent = await twilio_call(
        agent.ws_url + "/twilio", speak(prompt, 8000), params, listen_s=6
    )
    received = got.pcm()
    expected = golden_8k(reply)
    assert received.size >= expected.size, "reply audio missing or cut short"
    assert np.array_equal(received[: expected.size], expected)
    assert "mark:voiceobs-reply-done" in got.names()
    assert f"mark:voiceobs-intent:{intent}" in got.names()
    # the reply's first frame came within a second of the caller's end of speech
    trailing_silence = 0.7
    assert got.audio[0][0] - (last_sent - trailing_silence) < 1.0
    # trace context joined: every stage span is in the caller's trace, child of its span
    spans = [
        s for s in span_exporter.get_finished_spans() if f"{s.context.trace_id:032x}" == TRACE_ID
    ]
    names = {s.name for s in spans}
    assert {"vad", "asr", "respond", "tts", "transport"} <= names
    for s in spans:
        assert s.parent is not None and f"{s.parent.span_id:016x}" == PARENT_ID
    respond = next(s for s in spans if s.name == "respond")
    assert respond.attributes["voice.intent"] == intent
    assert respond.attributes["voice.output_chars"] == len(reply)
    assert respond.attributes["voice.context_tokens"] >= 2
    asr = next(s for s in spans if s.name == "asr")
    assert asr.attributes["voice.audio_seconds"] > 0.5


async def test_barge_in_sends_clear(agent: ServerHandle) -> None:
    first = speak("What are your opening hours?", 8000)
    interrupt = speak("Please cancel my order.", 8000)
    got, _ = await twilio_call(
        agent.ws_url + "/twilio", first, extra=[interrupt], extra_after_audio=True, listen_s=4
    )
    names = got.names()
    assert "clear" in names
    clear_at = next(t for t, e in got.events if e["event"] == "clear")
    # the hours reply was cut off: its done-mark never came before the clear
    done = [t for t, e in got.events if e.get("mark", {}).get("name") == "voiceobs-reply-done"]
    assert not done or done[0] > clear_at
    # and the interrupting turn was answered (cancel reply follows the clear)
    after = np.concatenate([a for t, a in got.audio if t > clear_at])
    expected = golden_8k(next(i.reply for i in IntentResponder().intents if i.name == "cancel"))
    assert np.array_equal(after[: expected.size], expected)


async def test_agent_metrics_and_concurrency(agent: ServerHandle) -> None:
    prompts = ["Hello there.", "Thank you goodbye.", "Talk to a human agent."]
    results = await asyncio.gather(
        *[
            twilio_call(agent.ws_url + "/twilio", speak(p, 8000), listen_s=3.5, sid=f"MZc{i}")
            for i, p in enumerate(prompts)
        ]
    )
    for got, _ in results:
        assert got.pcm().size > 8000 and "mark:voiceobs-reply-done" in got.names()
    registry = agent.state.metrics.registry
    assert (
        registry.get_sample_value("voiceobs_server_batch_size_count", {"model": "vad"}) or 0
    ) > 0
    assert (registry.get_sample_value("voiceobs_server_turn_latency_seconds_count") or 0) >= 3


async def test_espeak_stays_selectable(span_exporter: InMemorySpanExporter) -> None:
    """``voiceobs serve --pipeline agent --voice espeak``: the old voice, same behaviour."""
    settings = AgentSettings(voice=parse_voice("espeak"))
    config = ServerConfig(pipeline="agent", port=0, device="cpu", agent=settings)
    with running_server(config) as srv:
        got, _ = await twilio_call(
            srv.ws_url + "/twilio", speak("Please cancel my order.", 8000), listen_s=4
        )
    reply = next(i.reply for i in IntentResponder().intents if i.name == "cancel")
    expected = golden_8k(reply, Voice())
    received = got.pcm()
    assert received.size >= expected.size
    assert np.array_equal(received[: expected.size], expected)
    assert not np.array_equal(expected, golden_8k(reply)[: expected.size])  # voices differ
