"""How a call ends, in words: who closed it, with which code and why (real websockets targets)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from websockets.asyncio.server import ServerConnection, serve

from tests.helpers import make_spec
from voiceobs.probe.runner import run_spec_async
from voiceobs.results import RunResult

#: What a scripted target does once the caller's audio starts flowing.
Script = Callable[[ServerConnection], Awaitable[None]]

_LOUD = base64.b64encode(bytes([0x10, 0x90] * 80)).decode()  # a mu-law frame well above -45 dBFS


async def _oversize(ws: ServerConnection) -> None:
    await ws.send("x" * (2 * 2**20))  # beyond the probe's 1 MiB message limit


async def _restart(ws: ServerConnection) -> None:
    await ws.close(1012, "")


async def _reply_then_restart(ws: ServerConnection) -> None:
    await asyncio.sleep(2.5)  # past the end of the caller's speech: this is the reply
    for _ in range(10):
        await ws.send(json.dumps({"event": "media", "streamSid": "MZx", "media": {"payload": _LOUD}}))
    await asyncio.sleep(0.2)
    await ws.close(1012, "")


async def _internal_error(ws: ServerConnection) -> None:
    await ws.close(1011, "pipeline crashed")


async def _drop(ws: ServerConnection) -> None:
    ws.transport.abort()  # TCP gone, no close frame


@pytest.fixture
async def target() -> AsyncIterator[Callable[[Script], str]]:
    """A Twilio-speaking target that runs a script after the caller's first media frame."""
    script: list[Script] = []

    async def handler(ws: ServerConnection) -> None:
        async for message in ws:
            if json.loads(message).get("event") == "media":
                await script[0](ws)
                await ws.wait_closed()  # the probe, not the handler returning, ends the call
                return

    async with serve(handler, "127.0.0.1", 0, max_size=None, close_timeout=1) as srv:
        port = srv.sockets[0].getsockname()[1]

        def url(s: Script) -> str:
            script[:] = [s]
            return f"ws://127.0.0.1:{port}/twilio"

        yield url


async def _call(url: str) -> RunResult:
    spec = make_spec(url, timeouts={"connect_s": 3, "first_audio_s": 3, "call_s": 15})
    [result] = await run_spec_async(spec)
    return result


async def test_a_frame_the_probe_refused_says_the_probe_closed_with_1009(target: Callable[[Script], str]) -> None:
    result = await _call(target(_oversize))
    assert result.failure_class == "protocol_error"
    assert result.failure_detail == (
        "protocol_error: the probe closed the call in turn 1: frame of 2048.0 KiB exceeds the limit of 1024.0 KiB (1009)"
    )


async def test_a_1012_close_without_a_reason_is_a_close_frame_not_a_missing_one(
    target: Callable[[Script], str],
) -> None:
    result = await _call(target(_restart))
    assert result.failure_class == "truncated"
    assert result.failure_detail == (
        "truncated: the target closed the call before replying in turn 1 with 1012 (service restart), no reason given"
    )


async def test_a_close_after_reply_audio_is_mid_reply(target: Callable[[Script], str]) -> None:
    result = await _call(target(_reply_then_restart))
    assert result.failure_class == "truncated"
    assert result.failure_detail is not None
    assert result.failure_detail.startswith("truncated: the target closed the call mid-reply in turn 1 with 1012")


async def test_a_target_error_close_keeps_its_reason(target: Callable[[Script], str]) -> None:
    result = await _call(target(_internal_error))
    assert result.failure_class == "protocol_error"
    assert result.failure_detail == (
        "protocol_error: the target closed the call in turn 1 with 1011 (internal error): pipeline crashed"
    )


async def test_only_a_dropped_connection_is_1006(target: Callable[[Script], str]) -> None:
    result = await _call(target(_drop))
    assert result.failure_class == "truncated"
    assert result.failure_detail == (
        "truncated: the connection dropped before replying in turn 1 with no close frame (1006)"
    )


async def test_a_close_before_the_start_is_acknowledged_names_its_code() -> None:
    async def refuse(ws: ServerConnection) -> None:
        await ws.recv()  # the PCM start message
        await ws.close(1013, "")

    async with serve(refuse, "127.0.0.1", 0) as srv:
        port = srv.sockets[0].getsockname()[1]
        spec = make_spec(f"ws://127.0.0.1:{port}/pcm", protocol="pcm")
        [result] = await run_spec_async(spec)
    assert result.failure_class == "connect_error"
    assert result.failure_detail == (
        "connect_error: the target did not start the call: the target closed the call with 1013 (try again later), "
        "no reason given"
    )
