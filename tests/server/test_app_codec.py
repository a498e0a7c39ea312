"""The codec pipeline over raw PCM: impaired, deterministic, and as bad as configured."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
import websockets
from pesq import pesq

from voiceobs.audio.resample import resample
from voiceobs.pipelines.codec import CodecConfig
from voiceobs.server import ServerConfig, ServerHandle, running_server

from .conftest import frames, speak

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def codec() -> ServerHandle:
    with running_server(
        ServerConfig(pipeline="codec", port=0, device="cpu", codec=CodecConfig())
    ) as srv:
        yield srv


def pesq_nb(ref: np.ndarray, deg: np.ndarray) -> float:
    """PESQ-nb on the 8 kHz versions: the chain is narrowband by design."""
    r = resample(ref.astype(np.float32) / 32768, 16000, 8000)
    d = resample(deg.astype(np.float32) / 32768, 16000, 8000)
    return float(pesq(8000, r, d, "nb"))


async def pcm_call(srv: ServerHandle, audio: np.ndarray, params: dict[str, str]) -> np.ndarray:
    out: list[bytes] = []
    async with websockets.connect(srv.ws_url + "/pcm") as ws:
        await ws.send(json.dumps({"event": "start", "params": params}))
        assert json.loads(await ws.recv())["event"] == "started"
        for frame in frames(audio, 320):
            await ws.send(frame.astype("<i2").tobytes())
        try:
            while True:
                msg = await asyncio.wait_for(ws.recv(), 1.0)
                if isinstance(msg, bytes):
                    out.append(msg)
        except TimeoutError:
            pass
    return np.frombuffer(b"".join(out), "<i2")


async def test_codec_impairs_by_configuration(codec: ServerHandle) -> None:
    prompt = speak("The quick brown fox jumps over the lazy dog.", 16000)
    clean = await pcm_call(codec, prompt, {})
    delay = 2 * 320  # two frames of resampling look-ahead
    assert clean.size == len(list(frames(prompt, 320))) * 320 - delay
    ref = prompt[: clean.size]
    clean_score = pesq_nb(ref, clean)
    assert clean_score > 3.5, clean_score  # a clean mu-law line (measured 3.96)
    lossy_cfg = json.dumps({"loss": "gilbert", "ge_p": 0.1, "ge_r": 0.3, "snr_db": 10, "seed": 7})
    lossy = await pcm_call(codec, prompt, {"voiceobs_codec": lossy_cfg})
    again = await pcm_call(codec, prompt, {"voiceobs_codec": lossy_cfg})
    assert np.array_equal(lossy, again)  # seeded: the same call gives the same impairment
    lossy_score = pesq_nb(ref, lossy[: clean.size])
    assert lossy_score < clean_score - 0.5, (clean_score, lossy_score)
