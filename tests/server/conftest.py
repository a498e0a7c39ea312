"""Shared helpers: real servers on loopback and a minimal real Twilio/PCM client."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from voiceobs.audio.g711 import float_to_int16, mulaw_decode, mulaw_encode
from voiceobs.audio.tts import Voice, render_speech

TTS_CACHE = Path(__file__).parent / ".." / ".." / ".pytest_cache" / "voiceobs-tts"


@pytest.fixture(scope="session")
def span_exporter() -> InMemorySpanExporter:
    """One SDK provider for the session (OTel allows setting it once)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


def speak(text: str, rate: int, wpm: int = 150) -> np.ndarray:
    """A prompt as int16 at ``rate`` with 300 ms of lead-in and 700 ms of trailing silence."""
    audio = float_to_int16(render_speech(text, rate, Voice(words_per_minute=wpm)))
    return np.concatenate(
        [np.zeros(rate * 3 // 10, np.int16), audio, np.zeros(rate * 7 // 10, np.int16)]
    )


def frames(audio: np.ndarray, n: int) -> Iterator[np.ndarray]:
    """Split into n-sample frames, zero-padding the last."""
    for i in range(0, audio.size, n):
        frame = audio[i : i + n]
        yield np.pad(frame, (0, n - frame.size)) if frame.size < n else frame


def start_message(sid: str = "MZ0001", params: dict[str, str] | None = None) -> str:
    return json.dumps(
        {
            "event": "start",
            "sequenceNumber": "1",
            "streamSid": sid,
            "start": {
                "streamSid": sid,
                "callSid": "CA" + sid,
                "accountSid": "AC0001",
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": params or {},
            },
        }
    )


def media_message(sid: str, chunk: int, payload: bytes) -> str:
    return json.dumps(
        {
            "event": "media",
            "sequenceNumber": str(chunk + 1),
            "streamSid": sid,
            "media": {
                "track": "inbound",
                "chunk": str(chunk),
                "timestamp": str(chunk * 20),
                "payload": base64.b64encode(payload).decode(),
            },
        }
    )


@dataclass
class Received:
    """What a call got back, with arrival times (monotonic seconds)."""

    audio: list[tuple[float, np.ndarray]] = field(default_factory=list)
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""

    def pcm(self) -> np.ndarray:
        if not self.audio:
            return np.zeros(0, np.int16)
        return np.concatenate([a for _, a in self.audio])

    def names(self) -> list[str]:
        out = []
        for _, e in self.events:
            name = e.get("event", "")
            if name == "mark":
                name += ":" + (e.get("mark", {}).get("name") or e.get("name", ""))
            out.append(name)
        return out


async def twilio_call(
    url: str,
    audio8k: np.ndarray,
    params: dict[str, str] | None = None,
    *,
    pace: bool = True,
    listen_s: float = 3.0,
    sid: str = "MZ0001",
    extra: list[np.ndarray] | None = None,
    extra_after_audio: bool = False,
) -> tuple[Received, float]:
    """Place one Twilio call; returns what came back and the send time of the last frame.

    ``extra`` audio is sent after the first reply frame arrives when
    ``extra_after_audio`` (barge-in).
    """
    import websockets

    got = Received()
    first_audio = asyncio.Event()
    async with websockets.connect(url, max_size=2**22) as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(start_message(sid, params))

        async def reader() -> None:
            try:
                async for raw in ws:
                    now = time.monotonic()
                    msg = json.loads(raw)
                    if msg["event"] == "media":
                        assert msg["streamSid"] == sid
                        payload = base64.b64decode(msg["media"]["payload"])
                        got.audio.append((now, mulaw_decode(payload)))
                        first_audio.set()
                    else:
                        got.events.append((now, msg))
            except websockets.ConnectionClosed:
                pass

        task = asyncio.create_task(reader())
        t0 = time.monotonic()
        last = t0
        chunk = 0

        async def send(audio: np.ndarray) -> None:
            nonlocal chunk, last
            for frame in frames(audio, 160):
                if pace:
                    wait = t0 + chunk * 0.02 - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                await ws.send(media_message(sid, chunk, mulaw_encode(frame).tobytes()))
                last = time.monotonic()
                chunk += 1

        try:
            await send(audio8k)
            for more in extra or []:
                if extra_after_audio:
                    await asyncio.wait_for(first_audio.wait(), 10)
                await send(more)
            await asyncio.sleep(listen_s)
            await ws.send(json.dumps({"event": "stop", "streamSid": sid}))
        except websockets.ConnectionClosed:
            pass
        await asyncio.wait_for(task, 10)
        if ws.close_code is not None:
            got.close_code = ws.close_code
            got.close_reason = ws.close_reason or ""
    return got, last
