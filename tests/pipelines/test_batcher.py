"""The micro-batcher: concurrent requests batched, batched VAD equal to unbatched."""

from __future__ import annotations

import asyncio

import numpy as np
import torch

from voiceobs.pipelines.batcher import BatchSettings, MicroBatcher


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
