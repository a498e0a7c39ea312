"""A real Pipecat voice bot on loopback, for tests that watch a production bot from both sides.

It is built the way a Pipecat user builds a Twilio bot: a FastAPI WebSocket
endpoint reads Twilio's ``connected`` / ``start`` messages with Pipecat's own
``parse_telephony_websocket``, and a ``PipelineWorker`` runs
``FastAPIWebsocketTransport`` with ``TwilioFrameSerializer``, the Silero VAD
Pipecat bundles, an STT, an LLM and a TTS service, and the context
aggregators. Tracing is Pipecat's own (``enable_tracing=True``: its
``TurnTrackingObserver``, ``UserBotLatencyObserver`` and ``TurnTraceObserver``,
and the ``@traced_stt`` / ``@traced_llm`` / ``@traced_tts`` decorators), the
conversation id is the Twilio call SID, as the README tells users to set it.

Only the paid parts are replaced, by local services that subclass Pipecat's
own service base classes and carry the same tracing decorators a hosted
service does: speech recognition is pocketsphinx with a grammar of the
intent phrases (``voiceobs.pipelines.asr``), the "LLM" is the reference
intent responder, speech is espeak-ng. So every span, attribute and metric is
the one Pipecat itself produces.

The bot runs in a child process (:class:`PipecatBot`), like the reference
servers of ``tests.helpers``: it does not share the GIL with the probe, and
it owns the process-wide OpenTelemetry tracer provider Pipecat's tracing
uses. Spans go through the real SDK into an ``InMemorySpanExporter``, behind
voiceobs' ``RedactingSpanProcessor`` (what the collector does at the door);
with ``otlp_endpoint`` they also go to an OTLP/HTTP endpoint (a running
``voiceobs collect``). When the bot is stopped it writes every span as an
``IngestedSpan`` (``span_to_record`` plus the resource, as the transport
builds them) and what Pipecat's own observers reported, to a JSON file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

#: The service name the bot reports (``service.name`` of its OTel resource).
SERVICE = "support-bot"


# -- the bot (imported only in the child: pipecat is heavy and owns global state) ---------------


def _services(asr: Any) -> tuple[type, type, type]:
    """The three local services (recognising with ``asr``), defined on first use so importing
    this module stays cheap."""
    import numpy as np
    from pipecat.frames.frames import (
        Frame,
        LLMContextFrame,
        LLMFullResponseEndFrame,
        LLMFullResponseStartFrame,
        TranscriptionFrame,
    )
    from pipecat.metrics.metrics import LLMTokenUsage
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.processors.frame_processor import FrameDirection
    from pipecat.services.llm_service import LLMService
    from pipecat.services.settings import LLMSettings, STTSettings, TTSSettings
    from pipecat.services.stt_service import SegmentedSTTService
    from pipecat.services.tts_service import TTSService
    from pipecat.utils.time import time_now_iso8601
    from pipecat.utils.tracing.service_decorators import traced_llm, traced_stt, traced_tts

    from voiceobs.audio.tts import ESPEAK_RATE, render_speech
    from voiceobs.pipelines.responder import IntentResponder

    responder = IntentResponder()

    class PocketsphinxSTTService(SegmentedSTTService):
        """Offline speech recognition of each VAD segment (16 kHz PCM), grammar-constrained."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(
                settings=STTSettings(model="pocketsphinx-en-us", language="en"),
                ttfs_p99_latency=1.0,
                **kwargs,
            )
            self._asr = asr

        @property
        def wants_wav_segments(self) -> bool:
            return False

        def can_generate_metrics(self) -> bool:
            return True

        @traced_stt
        async def _handle_transcription(
            self, transcript: str, is_final: bool, language: Any = None
        ) -> None:
            """What hosted STT services decorate; the decorator drives the ``stt`` span."""

        async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame, None]:
            pcm = np.frombuffer(audio, dtype=np.int16)
            text = await self._asr.transcribe(pcm)
            await self._handle_transcription(text, True)
            yield TranscriptionFrame(text, self._user_id, time_now_iso8601())

    class IntentLLMService(LLMService):
        """The reference intent responder in place of a hosted LLM: same frames, metrics and span."""

        def __init__(self, **kwargs: Any) -> None:
            settings = LLMSettings(
                model="intent-table",
                system_instruction=None,
                temperature=None,
                max_tokens=None,
                top_p=None,
                top_k=None,
                frequency_penalty=None,
                presence_penalty=None,
                seed=None,
                filter_incomplete_user_turns=None,
                user_turn_completion_config=None,
            )
            super().__init__(settings=settings, **kwargs)

        def can_generate_metrics(self) -> bool:
            return True

        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            await super().process_frame(frame, direction)
            if isinstance(frame, LLMContextFrame):
                await self.push_frame(LLMFullResponseStartFrame())
                await self.start_processing_metrics()
                try:
                    await self._process_context(frame.context)
                finally:
                    await self.stop_processing_metrics()
                    await self.push_frame(LLMFullResponseEndFrame())
            else:
                await self.push_frame(frame, direction)

        @traced_llm
        async def _process_context(self, context: LLMContext) -> None:
            await self.start_ttfb_metrics()
            messages = context.get_messages()
            said = ""
            for m in reversed(messages):
                if isinstance(m, dict) and m.get("role") == "user":
                    said = str(m.get("content") or "")
                    break
            reply = responder.respond(said, []).text
            await self.stop_ttfb_metrics()
            await self._push_llm_text(reply)
            prompt_words = sum(
                len(str(m.get("content") or "").split()) for m in messages if isinstance(m, dict)
            )
            completion = len(reply.split())
            await self.start_llm_usage_metrics(
                LLMTokenUsage(
                    prompt_tokens=prompt_words,
                    completion_tokens=completion,
                    total_tokens=prompt_words + completion,
                )
            )

    class EspeakTTSService(TTSService):
        """espeak-ng speech in place of a hosted TTS, streamed the way Pipecat's local TTSs stream."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(
                push_start_frame=True,
                push_stop_frames=True,
                settings=TTSSettings(model="espeak-ng", voice="en-us", language="en"),
                **kwargs,
            )

        def can_generate_metrics(self) -> bool:
            return True

        @traced_tts
        async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame, None]:
            await self.start_tts_usage_metrics(text)
            audio = await asyncio.to_thread(render_speech, text, ESPEAK_RATE)
            pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16).tobytes()

            async def chunks() -> AsyncGenerator[bytes, None]:
                step = ESPEAK_RATE // 10 * 2  # 100 ms of 16-bit samples
                for i in range(0, len(pcm), step):
                    yield pcm[i : i + step]

            async for out in self._stream_audio_frames_from_iterator(
                chunks(), in_sample_rate=ESPEAK_RATE, context_id=context_id
            ):
                await self.stop_ttfb_metrics()
                yield out
            await self.stop_ttfb_metrics()

    return PocketsphinxSTTService, IntentLLMService, EspeakTTSService


@dataclass
class Observed:
    """What Pipecat's own observers reported, per conversation (the ground truth for the adapter)."""

    #: conversation id -> (turn number, seconds) from ``on_latency_measured``, in order.
    latencies: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    #: conversation id -> (turn number, duration s, interrupted) from ``on_turn_ended``.
    turns: dict[str, list[tuple[int, float, bool]]] = field(default_factory=dict)


def recogniser() -> Any:
    """The bot's speech recogniser: loaded once per process, before any call, as a real bot
    loads its models (a per-call load would hold the pipeline's start past the caller's
    first words)."""
    from voiceobs.pipelines.asr import PocketsphinxAsr
    from voiceobs.pipelines.responder import IntentResponder

    return PocketsphinxAsr(IntentResponder().phrases(), workers=2)


def build_app(observed: Observed, asr: Any) -> Any:
    """The bot's FastAPI app: ``/ws`` takes a Twilio Media Streams call, recognised by ``asr``."""
    from fastapi import FastAPI, WebSocket
    from pipecat.audio.vad.silero import SileroVADAnalyzer
    from pipecat.audio.vad.vad_analyzer import VADParams
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.worker import PipelineParams, PipelineWorker
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.processors.aggregators.llm_response_universal import (
        LLMContextAggregatorPair,
        LLMUserAggregatorParams,
    )
    from pipecat.runner.utils import parse_telephony_websocket
    from pipecat.serializers.twilio import TwilioFrameSerializer
    from pipecat.transports.websocket.fastapi import (
        FastAPIWebsocketParams,
        FastAPIWebsocketTransport,
    )
    from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy
    from pipecat.turns.user_turn_strategies import UserTurnStrategies
    from pipecat.workers.runner import WorkerRunner

    stt_cls, llm_cls, tts_cls = _services(asr)
    app = FastAPI()

    async def call(websocket: WebSocket) -> None:
        await websocket.accept()
        _, call_data = await parse_telephony_websocket(websocket)
        call_sid = str(call_data["call_id"])
        serializer = TwilioFrameSerializer(
            stream_sid=call_data["stream_id"],
            call_sid=call_sid,
            # Hanging up goes through Twilio's REST API; the probe hangs up itself.
            params=TwilioFrameSerializer.InputParams(auto_hang_up=False),
        )
        transport = FastAPIWebsocketTransport(
            websocket=websocket,
            params=FastAPIWebsocketParams(
                audio_in_enabled=True,
                audio_out_enabled=True,
                add_wav_header=False,
                serializer=serializer,
            ),
        )
        vad = SileroVADAnalyzer(params=VADParams(stop_secs=0.2))
        context = LLMContext()
        user, assistant = LLMContextAggregatorPair(
            context,
            user_params=LLMUserAggregatorParams(
                vad_analyzer=vad,
                user_turn_strategies=UserTurnStrategies(
                    stop=[SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=0.2)]
                ),
            ),
        )
        pipeline = Pipeline(
            [
                transport.input(),
                stt_cls(),
                user,
                llm_cls(),
                tts_cls(),
                transport.output(),
                assistant,
            ]
        )
        worker = PipelineWorker(
            pipeline,
            params=PipelineParams(
                audio_in_sample_rate=16000,
                audio_out_sample_rate=8000,
                enable_metrics=True,
                enable_usage_metrics=True,
            ),
            enable_tracing=True,
            conversation_id=call_sid,
            additional_span_attributes={"voice.stream_sid": str(call_data["stream_id"])},
        )
        # Ground truth straight from Pipecat's observers: the same instances that feed the trace.
        latencies = observed.latencies.setdefault(call_sid, [])
        turns = observed.turns.setdefault(call_sid, [])
        latency_observer = worker._user_bot_latency_observer  # no public accessor in 1.14
        assert latency_observer is not None and worker.turn_tracking_observer is not None

        current = [0]

        @worker.turn_tracking_observer.event_handler("on_turn_started")
        async def _started(_: Any, number: int) -> None:
            current[0] = int(number)

        @latency_observer.event_handler("on_latency_measured")
        async def _latency(_: Any, seconds: float) -> None:
            latencies.append((current[0], float(seconds)))

        @worker.turn_tracking_observer.event_handler("on_turn_ended")
        async def _turn(_: Any, number: int, duration: float, interrupted: bool) -> None:
            turns.append((int(number), float(duration), bool(interrupted)))

        @transport.event_handler("on_client_disconnected")
        async def _gone(*_: Any) -> None:
            await worker.cancel()

        runner = WorkerRunner(handle_sigint=False, handle_sigterm=False)
        await runner.add_workers(worker)
        await runner.run()

    # FastAPI reads the parameter's annotation to inject the socket; under postponed
    # evaluation it is a string naming a local import, so it is given the class itself.
    call.__annotations__["websocket"] = WebSocket
    app.add_api_websocket_route("/ws", call)
    return app


def _tracer_provider(otlp_endpoint: str | None) -> tuple[Any, Any]:
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from voiceobs.tracing import RedactingSpanProcessor

    resource = Resource.create(
        {
            "service.name": SERVICE,
            "service.version": "1.4.2",
            "deployment.environment": "staging",
            "cloud.region": "eu-west-1",
        }
    )
    provider = TracerProvider(resource=resource)
    memory = InMemorySpanExporter()
    provider.add_span_processor(RedactingSpanProcessor(SimpleSpanProcessor(memory)))
    if otlp_endpoint:
        # As a user's bot exports: the plain SDK exporter, nothing of voiceobs in front of it
        # (the collector redacts at its own door).
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=otlp_endpoint, timeout=10)
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=200))
    trace.set_tracer_provider(provider)
    return provider, memory


def _ingested(span: Any) -> dict[str, Any]:
    """One finished span as the transport hands it to the assembler (``IngestedSpan`` as JSON)."""
    import dataclasses

    from voiceobs.tracing import span_to_record

    resource = dict(span.resource.attributes) if span.resource else {}
    scope = span.instrumentation_scope.name if span.instrumentation_scope else ""
    return {
        "record": dataclasses.asdict(span_to_record(span)),
        "resource": {k: v for k, v in resource.items() if isinstance(v, (str, int, float, bool))},
        "scope": scope,
    }


def serve(port: int, out: Path, otlp_endpoint: str | None) -> None:
    """Run the bot until stdin closes, then write its spans and observations to ``out``."""
    import numpy as np
    import uvicorn

    provider, memory = _tracer_provider(otlp_endpoint)
    observed = Observed()
    asr = recogniser()
    config = uvicorn.Config(
        build_app(observed, asr), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)

    def stop_on_eof() -> None:
        sys.stdin.read()
        server.should_exit = True

    threading.Thread(target=stop_on_eof, daemon=True).start()

    async def main() -> None:
        await asr.load()
        await asr.transcribe(np.zeros(16000, dtype=np.int16))  # the first decode is the slow one
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.02)
        sock = server.servers[0].sockets[0]
        print(sock.getsockname()[1], flush=True)
        await task

    asyncio.run(main())
    asr.close()
    provider.force_flush()
    data = {
        "spans": [_ingested(s) for s in memory.get_finished_spans()],
        "latencies": observed.latencies,
        "turns": observed.turns,
    }
    out.write_text(json.dumps(data))
    provider.shutdown()


# -- the test side ---------------------------------------------------------------------------

#: Silence before the caller's first words. The bot builds its pipeline after Twilio's start
#: message, and audio that arrives while it starts is lost to its VAD, as on a real line; a
#: caller who speaks the instant the call connects has their first turn missed (measured: one
#: call in two here), so the fixture's callers wait a second, as people do.
LEAD_S = 1.0


def caller_turns(workdir: Path, prompts: list[str], **turn: Any) -> list[dict[str, Any]]:
    """Probe-spec turns saying ``prompts``; the first is a WAV that starts with :data:`LEAD_S` of silence.

    ``turn`` adds fields to every turn (``end_silence_ms``, ``pause_ms``, ...).
    """
    import numpy as np
    import soundfile as sf

    from voiceobs.audio.tts import render_speech

    rate = 16000
    first = workdir / "first-prompt.wav"
    speech = render_speech(prompts[0], rate)
    sf.write(first, np.concatenate([np.zeros(int(LEAD_S * rate), np.float32), speech]), rate)
    turns: list[dict[str, Any]] = [{"wav": str(first), **turn}]
    turns += [{"prompt": p, **turn} for p in prompts[1:]]
    return turns


@dataclass
class BotRun:
    """What the bot left behind: its spans as ingested, and what its observers reported."""

    spans: list[Any]
    latencies: dict[str, list[tuple[int, float]]]
    turns: dict[str, list[tuple[int, float, bool]]]


class PipecatBot:
    """The bot in a child process on a free loopback port; :meth:`stop` returns what it traced."""

    def __init__(self, workdir: Path, *, otlp_endpoint: str | None = None) -> None:
        self._out = workdir / "pipecat-bot.json"
        cmd = [sys.executable, "-m", "tests.collect.pipecat_bot", "--out", str(self._out)]
        if otlp_endpoint:
            cmd += ["--otlp-endpoint", otlp_endpoint]
        env = dict(os.environ, PYTHONPATH=str(ROOT), LOGURU_LEVEL="WARNING")
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.isdigit():
            self._kill()
            raise RuntimeError(f"the Pipecat bot did not start (got {line!r})")
        self.port = int(line)

    @property
    def url(self) -> str:
        """Where a Twilio Media Streams caller connects."""
        return f"ws://127.0.0.1:{self.port}/ws"

    def stop(self, timeout: float = 30.0) -> BotRun:
        """Close stdin (the bot finishes its calls and exits), then read what it wrote."""
        from voiceobs.collect.model import IngestedSpan
        from voiceobs.results import SpanRecord

        try:
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._kill()
            raise
        data = json.loads(self._out.read_text())
        spans = [
            IngestedSpan(SpanRecord(**s["record"]), s["resource"], s["scope"])
            for s in data["spans"]
        ]
        latencies = {k: [(int(n), float(s)) for n, s in v] for k, v in data["latencies"].items()}
        turns = {
            k: [(int(n), float(d), bool(i)) for n, d, i in v] for k, v in data["turns"].items()
        }
        return BotRun(spans, latencies, turns)

    def _kill(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.kill()
        self.proc.wait(timeout=10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--otlp-endpoint", default=None)
    args = parser.parse_args()
    serve(args.port, args.out, args.otlp_endpoint)
