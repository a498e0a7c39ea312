"""Each injected fault behaves as documented in voiceobs.pipelines.faults."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
import websockets
from pesq import pesq

from voiceobs.server import ServerConfig, ServerHandle, running_server

from .conftest import speak, twilio_call

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def echo() -> ServerHandle:
    with running_server(ServerConfig(pipeline="echo", port=0)) as srv:
        yield srv


@pytest.fixture(scope="module")
def prompt() -> np.ndarray:
    return speak("The quick brown fox jumps over the lazy dog.", 8000)


async def call(srv: ServerHandle, prompt: np.ndarray, fault: str, listen_s: float = 0.5):  # type: ignore[no-untyped-def]
    return await twilio_call(
        srv.ws_url + "/twilio", prompt, {"voiceobs_fault": fault}, listen_s=listen_s
    )


async def test_delay_shifts_every_frame(echo: ServerHandle, prompt: np.ndarray) -> None:
    short = prompt[:8000]
    clean, last_c = await twilio_call(echo.ws_url + "/twilio", short, listen_s=0.6)
    delayed, last_d = await call(echo, short, "delay=300", listen_s=0.6)
    assert np.array_equal(clean.pcm(), delayed.pcm())
    lag = (delayed.audio[-1][0] - last_d) - (clean.audio[-1][0] - last_c)
    assert 0.25 < lag < 0.4, lag


async def test_stall_sends_nothing_and_keeps_open(echo: ServerHandle, prompt: np.ndarray) -> None:
    got, _ = await call(echo, prompt[:8000], "stall", listen_s=0.5)
    assert got.audio == [] and got.events == []
    assert got.close_code == 1000  # the caller hung up; the server never closed


async def test_drop_truncates_without_close_frame(echo: ServerHandle, prompt: np.ndarray) -> None:
    got, _ = await call(echo, prompt, "drop=1")
    assert got.close_code == 1006
    seconds = got.pcm().size / 8000
    assert 0.8 < seconds < 1.3, seconds


async def test_garble_is_loud_but_unintelligible(echo: ServerHandle, prompt: np.ndarray) -> None:
    got, _ = await call(echo, prompt, "garble")
    received = got.pcm()[: prompt.size].astype(np.float32)
    assert np.sqrt(np.mean(received**2)) > 0.5 * np.sqrt(np.mean(prompt.astype(np.float32) ** 2))
    assert pesq(8000, prompt.astype(np.float32), received, "nb") < 2.0


async def test_silence_sends_zeros(echo: ServerHandle, prompt: np.ndarray) -> None:
    got, _ = await call(echo, prompt[:8000], "silence")
    assert len(got.audio) == 50 and not np.any(got.pcm())


async def test_refuse_at_handshake(echo: ServerHandle) -> None:
    with pytest.raises(websockets.InvalidStatus) as info:
        async with websockets.connect(echo.ws_url + "/twilio?voiceobs_fault=refuse"):
            pass
    assert info.value.response.status_code == 503


async def test_crash_closes_1011(echo: ServerHandle) -> None:
    async with websockets.connect(echo.ws_url + "/pcm") as ws:
        await ws.send(json.dumps({"event": "start", "fault": "crash"}))
        with pytest.raises(websockets.ConnectionClosedError):
            while True:
                await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 1011 and ws.close_reason == "internal error"
    registry = echo.state.metrics.registry
    assert (
        registry.get_sample_value("voiceobs_server_internal_errors_total", {"protocol": "pcm"}) or 0
    ) >= 1


async def test_server_wide_fault_via_cli_config(prompt: np.ndarray) -> None:
    from voiceobs.pipelines.faults import Faults

    with running_server(
        ServerConfig(pipeline="echo", port=0, faults=Faults.parse("silence"))
    ) as srv:
        got, _ = await twilio_call(srv.ws_url + "/twilio", prompt[:4000])
        assert got.audio and not np.any(got.pcm())
