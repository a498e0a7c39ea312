"""The ``agent`` pipeline: a streaming voice agent built from small real parts.

Per call: silero VAD (micro-batched across calls, on the torch device) finds
where the caller's turn ends; pocketsphinx transcribes the turn; a
:class:`~voiceobs.pipelines.responder.Responder` picks the reply; espeak-ng
renders it sentence by sentence and the frames go out, paced in real time,
as soon as the first sentence exists. If the caller starts speaking while
the agent talks (barge-in), the agent sends ``clear`` and stops.

Turn taking, in 32 ms VAD windows: speech starts after two consecutive
windows with probability >= ``speech_threshold``; the turn ends after
``hangover_ms`` of windows below ``silence_threshold``. The end of speech is
the arrival time of the last voiced window, so the hangover is part of the
turn latency the caller feels (it is the main cost at low load).

A caller may ask to be greeted (start parameter ``voiceobs_greeting``:
``1`` for the default greeting, or the words to say): the agent then speaks
first, as soon as the call starts. ``voiceobs_hangover_ms`` sets this call's
hangover (a patient agent for callers who pause mid-sentence). The
conversation faults of :mod:`voiceobs.pipelines.faults` (``ignore_barge_in``,
``stop_late``, ``dead_air``, ``early_endpoint``, ``greeting_delay``) act
here, per call.

Keypad digits (Twilio ``dtmf``) work as an IVR menu: ``1`` to ``8`` pick
the intents in :data:`~voiceobs.pipelines.responder.DEFAULT_INTENTS` order
(1 hours, 2 balance, 3 cancel, 4 human agent, ...); the agent answers
``DTMF_WAIT_MS`` after the last digit, or at once on ``#``, and any other
key gets the fallback reply.

After the last frame of each reply the agent sends two text events (Twilio
``mark``): ``voiceobs-intent:<intent>`` (the intent it answered, ``unknown``
for the fallback) and ``voiceobs-reply-done``, so a caller can tell a
complete reply from a truncated one, and a probe whose transcript lacks the
expected words can tell a misheard reply from a wrong one.

Spans per turn, children of the caller's trace context: ``vad`` (speech
start to end-of-turn decision, ``voice.audio_seconds`` = utterance length),
``asr`` (``voice.audio_seconds``), ``respond`` (``voice.context_tokens`` =
words of this call's transcripts so far, ``voice.output_chars``), ``tts``
(first sentence render, ``voice.output_chars``, ``voice.audio_seconds``)
and ``transport`` (first to last reply frame, ``voice.audio_seconds``).
The ``vad`` stage histogram times single batched window inferences.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from voiceobs.audio.g711 import float_to_int16
from voiceobs.audio.resample import resample
from voiceobs.audio.tts import Voice, parse_voice, render_speech
from voiceobs.errors import ConfigError
from voiceobs.pipelines.asr import PocketsphinxAsr
from voiceobs.pipelines.base import CallInfo, CallSink, Session, frame_samples
from voiceobs.pipelines.batcher import BatchSettings, MicroBatcher
from voiceobs.pipelines.responder import FALLBACK_REPLY, IntentResponder, Responder
from voiceobs.pipelines.speech import split_sentences, stream_speech
from voiceobs.pipelines.telemetry import PipelineMetrics, stage_span
from voiceobs.pipelines.vad import SileroVad, VadRequest

log = logging.getLogger(__name__)

REPLY_DONE_EVENT = "voiceobs-reply-done"
#: Prefix of the event naming the intent a reply answered (``voiceobs-intent:hours``).
INTENT_EVENT_PREFIX = "voiceobs-intent:"

#: What the agent says first when a caller asks for a greeting with ``voiceobs_greeting=1``.
DEFAULT_GREETING = "Hello! How can I help you today?"
GREETING_PARAM = "voiceobs_greeting"
HANGOVER_PARAM = "voiceobs_hangover_ms"
#: How long the agent waits after a keypad digit for another before it answers.
DTMF_WAIT_MS = 300.0
#: A frame this loud carries speech with a margin above any probe's silence threshold.
_SPEECH_DBFS = -35.0

#: The agent speaks with the hibari neural voice: a probe transcribes the reply
#: with pocketsphinx after an 8 kHz mu-law line, and measured that way espeak-ng's
#: replies come out at WER 0.75 over the example conversation, hibari's at 0.04
#: (benchmarks/pipelines/RESULTS.md). ``--voice espeak`` keeps the old voice.
DEFAULT_AGENT_VOICE = "hibari"


def default_agent_voice() -> Voice:
    """The voice the agent speaks with when none is chosen."""
    return parse_voice(DEFAULT_AGENT_VOICE)


@dataclass(frozen=True)
class AgentSettings:
    """Turn-taking and rendering knobs."""

    speech_threshold: float = 0.5
    silence_threshold: float = 0.35
    hangover_ms: float = 300.0
    min_speech_windows: int = 2
    #: Audio kept from before the speech-start decision and handed to the ASR with
    #: the turn. silero needs a few windows to cross ``speech_threshold`` on a soft
    #: onset: with 200 ms, the first 140 ms of "I want to check my account balance"
    #: (hibari, over the 8 kHz line) was cut in one call of three, and the grammar
    #: decoder heard "let me talk to a human". Leading silence costs the decoder
    #: nothing (measured up to 600 ms), so keep a generous margin.
    preroll_ms: float = 500.0
    #: How far ahead of real time reply frames are sent (a small playout buffer).
    lead_ms: float = 60.0
    asr_mode: Literal["grammar", "lm"] = "grammar"
    voice: Voice = field(default_factory=default_agent_voice)


class AgentSession:
    """One call: VAD loop, turn state, and at most one reply task."""

    def __init__(self, pipeline: AgentPipeline, call: CallInfo, sink: CallSink) -> None:
        self._p = pipeline
        self._call = call
        self._sink = sink
        self._rate = call.sample_rate
        self._stream = pipeline.vad.new_stream(call.sample_rate)
        self._win = self._stream.window
        self._win_s = self._win / self._rate
        self._inbox: asyncio.Queue[np.ndarray | None] = asyncio.Queue()
        self._pending = np.zeros(0, dtype=np.int16)
        self._preroll: deque[np.ndarray] = deque(
            maxlen=max(1, int(pipeline.settings.preroll_ms / 1000 / self._win_s))
        )
        self._utterance: list[np.ndarray] = []
        self._in_speech = False
        self._voiced_run = 0
        self._silence_s = 0.0
        self._speech_start = 0.0
        self._last_voiced = 0.0
        self._history: list[tuple[str, str]] = []
        self._reply: asyncio.Task[None] | None = None
        self._faults = call.faults
        self._hangover_ms = _hangover_ms(call, pipeline.settings)
        #: What the reply being spoken has left (audio and position), for ``stop_late``.
        self._speaking: tuple[np.ndarray, int] | None = None
        self._late_tail: asyncio.Task[None] | None = None
        self._digits = ""
        self._dtmf_task: asyncio.Task[None] | None = None
        loop = asyncio.get_running_loop()
        greeting = call.params.get(GREETING_PARAM, "").strip()
        if greeting:
            text = DEFAULT_GREETING if greeting.lower() in ("1", "true", "yes", "default") else greeting
            self._reply = loop.create_task(self._greet(text))
        self._worker = loop.create_task(self._run())

    async def on_audio(self, frame: np.ndarray) -> None:
        """Queue the frame for the VAD loop; never blocks the socket reader."""
        self._inbox.put_nowait(frame)

    async def _run(self) -> None:
        try:
            while True:
                frame = await self._inbox.get()
                if frame is None:
                    return
                self._pending = np.concatenate([self._pending, frame])
                while self._pending.size >= self._win:
                    window, self._pending = self._pending[: self._win], self._pending[self._win :]
                    await self._on_window(window, time.time())
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("agent VAD loop failed for call %s", self._call.call_id)

    async def _on_window(self, window: np.ndarray, now: float) -> None:
        settings = self._p.settings
        t0 = time.perf_counter()
        prob = await self._p.batcher.submit(
            VadRequest(self._stream, window.astype(np.float32) / 32768.0)
        )
        self._p.metrics.stage_seconds.labels("vad").observe(time.perf_counter() - t0)
        voiced = prob >= settings.speech_threshold
        if not self._in_speech:
            self._preroll.append(window)
            self._voiced_run = self._voiced_run + 1 if voiced else 0
            if self._voiced_run >= settings.min_speech_windows:
                self._in_speech = True
                self._speech_start = now - self._win_s * self._voiced_run
                self._utterance = list(self._preroll)
                self._silence_s = 0.0
                self._last_voiced = now
                if self._reply is not None and not self._reply.done():
                    await self._barge_in()
            return
        self._utterance.append(window)
        if prob >= settings.silence_threshold:
            self._silence_s = 0.0
            if voiced:
                self._last_voiced = now
            return
        self._silence_s += self._win_s
        if self._silence_s * 1000 >= self._hangover_ms:
            self._in_speech = False
            self._voiced_run = 0
            self._preroll.clear()
            audio = np.concatenate(self._utterance)
            self._utterance = []
            with stage_span(
                "vad",
                self._call.trace_context,
                None,
                start_time=self._speech_start,
                **{"voice.audio_seconds": audio.size / self._rate},
            ):
                pass
            # A reply still going (an agent that ignores barge-in) is finished first.
            before = self._reply if self._reply is not None and not self._reply.done() else None
            self._reply = asyncio.get_running_loop().create_task(
                self._answer(audio, self._last_voiced, before)
            )

    async def _barge_in(self) -> None:
        assert self._reply is not None
        if self._faults.ignore_barge_in:
            return
        left = self._speaking
        self._reply.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reply
        await self._sink.clear()
        late = self._faults.stop_late_ms
        if late and left is not None:
            # Timed from the clear: a probe sees exactly how much later than it the audio stopped.
            cleared = time.monotonic()
            self._late_tail = asyncio.get_running_loop().create_task(
                self._keep_talking(left, cleared, cleared + late / 1000.0)
            )

    async def _keep_talking(self, left: tuple[np.ndarray, int], decided: float, stop_at: float) -> None:
        """The ``stop_late`` fault: a speech frame every 20 ms after the decision, the last at ``stop_at``."""
        audio, pos = left
        n = frame_samples(self._rate)
        frames = _speech_frames(audio[pos:], n) or _speech_frames(audio, n)
        if not frames:
            return
        k = 0
        with contextlib.suppress(Exception):
            while True:
                due = min(decided + 0.02 * (k + 1), stop_at)
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                await self._sink.send_audio(frames[k % len(frames)])
                k += 1
                if due >= stop_at:
                    return

    async def _greet(self, text: str) -> None:
        """Speak first, as a bot that greets its callers does (late by ``greeting_delay``)."""
        try:
            audio = self._p.greeting_audio(text, self._rate)
            delay = self._faults.greeting_delay_ms
            if delay:
                await asyncio.sleep(delay / 1000.0)
            await self._speak_audio([audio], time.time(), "greeting")
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("agent greeting failed for call %s", self._call.call_id)

    async def _answer(
        self, audio: np.ndarray, end_of_speech: float, before: asyncio.Task[None] | None = None
    ) -> None:
        p, ctx = self._p, self._call.trace_context
        try:
            if before is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.shield(before)
            pcm16k = audio if self._rate == 16000 else _to_16k(audio, self._rate)
            with stage_span(
                "asr", ctx, p.metrics, **{"voice.audio_seconds": audio.size / self._rate}
            ):
                transcript = await p.asr.transcribe(pcm16k)
            tokens = len(transcript.split()) + sum(len(t.split()) for t, _ in self._history)
            with stage_span("respond", ctx, p.metrics, **{"voice.context_tokens": tokens}) as span:
                reply = p.responder.respond(transcript, self._history)
                span.set_attribute("voice.output_chars", len(reply.text))
                span.set_attribute("voice.intent", reply.intent)
            log.info("call %s heard %r -> %s", self._call.call_id, transcript, reply.intent)
            self._history.append((transcript, reply.text))
            await self._speak(reply.text, end_of_speech, reply.intent)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("agent reply failed for call %s", self._call.call_id)

    async def _speak(self, text: str, end_of_speech: float, intent: str = "unknown") -> None:
        p, ctx = self._p, self._call.trace_context
        sentences = stream_speech(text, self._rate, p.settings.voice)
        first_sentence = split_sentences(text)[0] if text.strip() else text
        with stage_span(
            "tts", ctx, p.metrics, **{"voice.output_chars": len(first_sentence)}
        ) as span:
            first = await anext(sentences)
            span.set_attribute("voice.audio_seconds", first.size / self._rate)
        await self._speak_audio([first], end_of_speech, intent, sentences)

    async def _speak_audio(
        self,
        chunks: list[np.ndarray],
        end_of_speech: float,
        intent: str,
        more: AsyncIterator[np.ndarray] | None = None,
    ) -> None:
        """Send audio paced in real time (``lead_ms`` ahead), then the intent and reply-done events."""
        p, ctx = self._p, self._call.trace_context
        n = frame_samples(self._rate)
        lead = p.settings.lead_ms / 1000.0
        dead_air = self._faults.dead_air_ms
        if dead_air:
            chunks = [_with_dead_air(chunks[0], n, self._rate, dead_air)]
        sent = 0
        t0 = time.monotonic()
        transport = stage_span("transport", ctx, p.metrics)
        span_t = transport.__enter__()
        try:
            while chunks:
                audio = chunks.pop()
                for i in range(0, audio.size, n):
                    self._speaking = (audio, i)
                    frame = audio[i : i + n]
                    if frame.size < n:
                        frame = np.pad(frame, (0, n - frame.size))
                    due = t0 + sent * n / self._rate - lead
                    wait = due - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    await self._sink.send_audio(frame)
                    if sent == 0:
                        latency = max(0.0, time.time() - end_of_speech)
                        p.metrics.turn_latency.observe(latency)
                        # The bot's own voice-to-voice figure, as a production bot reports it:
                        # from its end-of-turn decision to its first reply frame.
                        span_t.set_attribute("voice.reported_latency_ms", latency * 1000.0)
                    sent += 1
                nxt = await anext(more, None) if more is not None else None
                if nxt is not None:
                    chunks.append(nxt)
            self._speaking = None
            await self._sink.send_event(INTENT_EVENT_PREFIX + intent)
            await self._sink.send_event(REPLY_DONE_EVENT)
        finally:
            span_t.set_attribute("voice.audio_seconds", sent * n / self._rate)
            transport.__exit__(None, None, None)

    async def on_dtmf(self, digit: str) -> None:
        """A keypad digit: answer the menu choice once the caller stops pressing keys."""
        self._digits += digit
        if self._dtmf_task is not None and not self._dtmf_task.done():
            self._dtmf_task.cancel()
        self._dtmf_task = asyncio.get_running_loop().create_task(self._answer_keys(time.time()))

    async def _answer_keys(self, pressed_at: float) -> None:
        if not self._digits.endswith("#"):
            await asyncio.sleep(DTMF_WAIT_MS / 1000.0)
        digits, self._digits = self._digits.rstrip("#"), ""
        intent = self._p.menu_choice(digits)
        if self._reply is not None and not self._reply.done():
            await self._barge_in()  # keys interrupt the agent as speech does
        reply = self._p.responder.respond(intent, self._history) if intent else None
        text = reply.text if reply is not None and reply.intent != "unknown" else FALLBACK_REPLY
        name = reply.intent if reply is not None else "unknown"
        log.info("call %s pressed %r -> %s", self._call.call_id, digits, name)
        self._reply = asyncio.get_running_loop().create_task(self._speak(text, pressed_at, name))

    async def close(self) -> None:
        """Stop the VAD loop and any reply in flight."""
        for task in (self._reply, self._late_tail, self._dtmf_task, self._worker):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


def _hangover_ms(call: CallInfo, settings: AgentSettings) -> float:
    """This call's hangover: the ``early_endpoint`` fault, the caller's parameter, or the setting."""
    if call.faults.early_endpoint_ms is not None:
        return call.faults.early_endpoint_ms
    raw = call.params.get(HANGOVER_PARAM)
    if raw is None:
        return settings.hangover_ms
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{HANGOVER_PARAM}={raw!r}: give milliseconds, e.g. 1200") from None
    if not math.isfinite(value) or not 0 < value <= 60_000:
        raise ConfigError(f"{HANGOVER_PARAM}={raw}: must be more than 0 and at most 60000 ms")
    return value


def _frame_dbfs(frame: np.ndarray) -> float:
    x = frame.astype(np.float64) / 32768.0
    return 10.0 * math.log10(max(float(np.mean(x * x)), 1e-12))


def _speech_frames(audio: np.ndarray, n: int) -> list[np.ndarray]:
    """The whole 20 ms frames of ``audio`` that carry speech."""
    return [audio[i : i + n] for i in range(0, audio.size - n + 1, n) if _frame_dbfs(audio[i : i + n]) > _SPEECH_DBFS]


def _with_dead_air(audio: np.ndarray, n: int, rate: int, ms: float) -> np.ndarray:
    """``audio`` with ``ms`` of digital silence (whole frames) put between two frames of speech.

    The place is the first frame boundary at least 400 ms in (or the middle,
    for a short reply) with speech on both sides, so the reply's own pauses
    never add to the injected one.
    """
    frames = audio.size // n
    silent = round(ms / 20.0)
    start = min(rate * 2 // 5 // n, frames // 2)
    for k in range(max(start, 1), frames):
        if _frame_dbfs(audio[(k - 1) * n : k * n]) > _SPEECH_DBFS and _frame_dbfs(audio[k * n : (k + 1) * n]) > _SPEECH_DBFS:
            return np.concatenate([audio[: k * n], np.zeros(silent * n, audio.dtype), audio[k * n :]])
    return audio


def _to_16k(audio: np.ndarray, rate: int) -> np.ndarray:
    up = resample(audio.astype(np.float32) / 32768.0, rate, 16000)
    return np.clip(np.round(up * 32768.0), -32768, 32767).astype(np.int16)


class AgentPipeline:
    """Models shared by every call: one VAD (batched), a decoder pool, the responder."""

    name = "agent"

    def __init__(
        self,
        device: torch.device | None = None,
        batch: BatchSettings | None = None,
        metrics: PipelineMetrics | None = None,
        responder: Responder | None = None,
        settings: AgentSettings | None = None,
        asr_workers: int = 2,
    ) -> None:
        self.device = device or torch.device("cpu")
        self.metrics = metrics or PipelineMetrics()
        self.settings = settings or AgentSettings()
        intent_responder = IntentResponder()
        self.responder: Responder = responder or intent_responder
        phrases = intent_responder.phrases()
        self.asr = PocketsphinxAsr(phrases, mode=self.settings.asr_mode, workers=asr_workers)
        self._batch_settings = batch or BatchSettings()
        self._vad: SileroVad | None = None
        self._batcher: MicroBatcher[VadRequest, float] | None = None
        self._greetings: dict[tuple[str, int], np.ndarray] = {}

    def menu_choice(self, digits: str) -> str:
        """The phrase an IVR menu choice stands for (the intent's first phrase), or ``""``."""
        intents = getattr(self.responder, "intents", ())
        if len(digits) == 1 and digits.isdigit() and 1 <= int(digits) <= len(intents):
            return str(intents[int(digits) - 1].phrases[0])
        return ""

    def greeting_audio(self, text: str, rate: int) -> np.ndarray:
        """A greeting's audio at ``rate`` (int16), rendered once per text and kept in memory.

        Kept whole and in memory so a greeting goes out the moment the call
        starts: its timing is then the agent's, not a render's or a disk's.
        """
        key = (text, rate)
        audio = self._greetings.get(key)
        if audio is None:
            audio = float_to_int16(render_speech(text, rate, self.settings.voice))
            self._greetings[key] = audio
        return audio

    @property
    def vad(self) -> SileroVad:
        """The loaded VAD model."""
        if self._vad is None:
            raise RuntimeError("agent pipeline used before load()")
        return self._vad

    @property
    def batcher(self) -> MicroBatcher[VadRequest, float]:
        """The VAD micro-batcher."""
        if self._batcher is None:
            raise RuntimeError("agent pipeline used before load()")
        return self._batcher

    async def load(self) -> None:
        """Load the VAD and ASR, and pre-render every fixed reply (warm TTS cache)."""
        self._vad = await asyncio.to_thread(SileroVad, self.device)
        self._batcher = MicroBatcher(self._vad.infer, self._batch_settings, self.metrics, "vad")
        await self.asr.load()
        if isinstance(self.responder, IntentResponder):
            texts = self.responder.replies()
            for text in texts:
                for sentence in split_sentences(text):
                    await asyncio.to_thread(render_speech, sentence, 16000, self.settings.voice)
        for rate in (8000, 16000):
            await asyncio.to_thread(self.greeting_audio, DEFAULT_GREETING, rate)

    def open_session(self, call: CallInfo, sink: CallSink) -> Session:
        """A new VAD stream and turn state for this call."""
        return AgentSession(self, call, sink)

    async def aclose(self) -> None:
        """Stop the batcher and ASR threads."""
        if self._batcher is not None:
            await self._batcher.aclose()
        self.asr.close()


__all__ = [
    "DEFAULT_AGENT_VOICE",
    "DEFAULT_GREETING",
    "DTMF_WAIT_MS",
    "GREETING_PARAM",
    "HANGOVER_PARAM",
    "INTENT_EVENT_PREFIX",
    "REPLY_DONE_EVENT",
    "AgentPipeline",
    "AgentSession",
    "AgentSettings",
    "default_agent_voice",
]
