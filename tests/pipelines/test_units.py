"""Unit tests: G.711 against the reference tables, fault parsing, responder, batcher, codec."""

from __future__ import annotations

import asyncio
import warnings

import numpy as np
import pytest
import torch

from voiceobs.audio.g711 import alaw_decode, alaw_encode, mulaw_decode, mulaw_encode
from voiceobs.errors import ConfigError
from voiceobs.pipelines.batcher import BatchSettings, MicroBatcher
from voiceobs.pipelines.codec import CodecConfig
from voiceobs.pipelines.faults import Faults
from voiceobs.pipelines.responder import IntentResponder


def test_g711_known_codes() -> None:
    assert mulaw_decode(np.array([0x00, 0x80, 0xFF], np.uint8)).tolist() == [-32124, 32124, 0]
    assert alaw_decode(np.array([0xD5, 0x55, 0xAA, 0x2A], np.uint8)).tolist() == [
        8, -8, 32256, -32256,
    ]  # fmt: skip
    assert mulaw_encode(np.array([0, -1, 32767, -32768], np.int16)).tolist() == [255, 126, 128, 0]


def test_g711_matches_audioop_over_every_sample() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")
    x = np.arange(-32768, 32768, dtype=np.int16)
    assert np.array_equal(
        np.frombuffer(audioop.lin2ulaw(x.tobytes(), 2), np.uint8), mulaw_encode(x)
    )
    assert np.array_equal(np.frombuffer(audioop.lin2alaw(x.tobytes(), 2), np.uint8), alaw_encode(x))
    codes = np.arange(256, dtype=np.uint8).tobytes()
    assert np.array_equal(np.frombuffer(audioop.ulaw2lin(codes, 2), np.int16), mulaw_decode(codes))
    assert np.array_equal(np.frombuffer(audioop.alaw2lin(codes, 2), np.int16), alaw_decode(codes))


def test_g711_rejects_float_input() -> None:
    with pytest.raises(TypeError, match="int16"):
        mulaw_encode(np.zeros(4, np.float32))


def test_fault_parse_and_merge() -> None:
    f = Faults.parse("delay=300, garble,drop=1.5")
    assert f.delay_ms == 300 and f.garble and f.drop_after_s == 1.5
    assert Faults.parse(f.describe()) == f
    assert Faults.parse("stall").stall_at_start
    assert Faults.parse("crash").crash_after_s == 0.0
    merged = Faults.parse("delay=100").merge(Faults.parse("delay=50,silence"))
    assert merged.delay_ms == 150 and merged.silence
    assert not Faults.parse("").any
    for bad in ("explode", "delay", "delay=abc", "garble=2", "drop=-1", "drop=nan", "delay=inf",
                "delay=1e12", "stall=-inf", "crash=7200"):  # fmt: skip
        with pytest.raises(ConfigError):
            Faults.parse(bad)


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("what are your opening hours", "hours"),
        ("please cancel my order", "cancel"),
        ("talk to a human agent", "agent"),
        ("reset password please", "password"),
        ("i want", "unknown"),
        ("", "unknown"),
    ],
)
def test_responder_intents(text: str, intent: str) -> None:
    r = IntentResponder()
    assert r.respond(text, []).intent == intent


def test_codec_config_validation() -> None:
    cfg = CodecConfig.load('{"codec": "alaw", "loss": "gilbert", "snr_db": 20}')
    assert cfg.codec == "alaw" and cfg.snr_db == 20
    with pytest.raises(ConfigError, match="unknown codec setting"):
        CodecConfig.load('{"codek": "alaw"}')
    with pytest.raises(ConfigError):
        CodecConfig.load('{"loss_rate": 2}')


async def test_batcher_batches_concurrent_requests() -> None:
    seen: list[int] = []

    def infer(items: list[int]) -> list[int]:  # type: ignore[type-arg]
        seen.append(len(items))
        return [i * 2 for i in items]

    b: MicroBatcher[int, int] = MicroBatcher(infer, BatchSettings(max_batch=8, max_wait_ms=20))
    results = await asyncio.gather(*[b.submit(i) for i in range(20)])
    await b.aclose()
    assert results == [i * 2 for i in range(20)]
    assert max(seen) == 8 and sum(seen) == 20


async def test_batched_vad_equals_unbatched() -> None:
    from voiceobs.audio.tts import render_speech
    from voiceobs.pipelines.vad import SileroVad, VadRequest

    vad = SileroVad(torch.device("cpu"))
    rng = np.random.default_rng(0)
    speech = render_speech("hello there, how are you", 16000)
    streams = [vad.new_stream(16000) for _ in range(3)]
    alone = vad.new_stream(16000)
    signals = [speech, rng.standard_normal(speech.size).astype(np.float32) * 0.01, speech[::-1]]
    for i in range(0, speech.size - 512, 512):
        batched = vad.infer(
            [VadRequest(s, x[i : i + 512].copy()) for s, x in zip(streams, signals, strict=True)]
        )
        single = vad.infer([VadRequest(alone, speech[i : i + 512].copy())])
        assert abs(batched[0] - single[0]) < 1e-4
