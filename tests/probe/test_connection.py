"""The probe's direct WebSocket data path, against a real websockets server on loopback."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import InvalidState

from voiceobs.probe.connection import ProbeConnection


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[str | bytes], asyncio.Queue[str | bytes]]]:
    """A server that records what it receives and sends what a test queues."""
    received: list[str | bytes] = []
    outbox: asyncio.Queue[str | bytes] = asyncio.Queue()

    async def handler(ws: ServerConnection) -> None:
        async def pump() -> None:
            while True:
                message = await outbox.get()
                if message == "FRAGMENTED":
                    await ws.send(["frag", "mented"])  # one message in three frames
                elif message == "CLOSE":
                    await ws.close(1011, "boom")
                else:
                    await ws.send(message)

        task = asyncio.create_task(pump())
        try:
            async for message in ws:
                received.append(message)
        finally:
            task.cancel()

    async with serve(handler, "127.0.0.1", 0) as srv:
        port = srv.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/", received, outbox


async def _open(url: str) -> ProbeConnection:
    ws = await connect(url, create_connection=ProbeConnection, proxy=None)
    assert isinstance(ws, ProbeConnection)
    return ws


async def _until(cond: object, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not cond():  # type: ignore[operator]
            await asyncio.sleep(0.005)


async def test_send_now_frames_text_and_binary_of_every_length_class(server: tuple) -> None:
    url, received, _ = server
    ws = await _open(url)
    messages: list[str | bytes] = ["short", "x" * 300, "é" * 40000, bytes(range(256)) * 300]
    for m in messages:
        ws.send_now(m)  # 7-bit, 16-bit and 64-bit lengths; text and binary
    await _until(lambda: len(received) == len(messages))
    assert received == messages
    await ws.close()
    with pytest.raises(InvalidState):
        ws.send_now("after close")


async def test_messages_reach_the_handler_stamped_and_in_order(server: tuple) -> None:
    url, _, outbox = server
    ws = await _open(url)
    got: list[tuple[bytes, bool, float]] = []
    await outbox.put("early")  # arrives before a handler is set: kept, not lost
    await asyncio.sleep(0.1)
    before = asyncio.get_running_loop().time()
    ws.set_handlers(lambda data, text, at: got.append((data, text, at)))
    for m in ("FRAGMENTED", b"\x01\x02", "last"):
        await outbox.put(m)
    await _until(lambda: len(got) == 4)
    assert [(d, t) for d, t, _ in got] == [
        (b"early", True),
        (b"fragmented", True),
        (b"\x01\x02", False),
        (b"last", True),
    ]
    assert got[0][2] < before <= got[1][2]  # the early one keeps its arrival time
    await ws.close()


async def test_close_frame_is_reported_at_once(server: tuple) -> None:
    url, _, outbox = server
    ws = await _open(url)
    closed = asyncio.Event()
    ws.set_handlers(lambda *_: None, on_close=closed.set)
    await outbox.put("CLOSE")
    await asyncio.wait_for(closed.wait(), 2)
    assert ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == 1011


class _PollCounter:
    polls = 0

    def poll(self) -> None:
        self.polls += 1


def _server_frame(payload: bytes, first: int = 0x81) -> bytes:
    """An unmasked frame as a server sends it (FIN + text by default)."""
    n = len(payload)
    if n < 126:
        return struct.pack("!BB", first, n) + payload
    return struct.pack("!BBH", first, 126, n) + payload


async def test_backlog_split_across_reads_is_delivered_whole_with_a_poll_per_message(server: tuple) -> None:
    url, _, _ = server
    clock = _PollCounter()
    ws = await _open(url)
    got: list[tuple[bytes, bool]] = []
    ws.set_handlers(lambda data, text, at: got.append((data, text)), clock=clock)
    stream = b"".join(_server_frame(b"z" * (90 + i), 0x81 if i % 3 else 0x82) for i in range(60))
    for i in range(0, len(stream), 700):  # reads that end mid-header and mid-payload
        ws.data_received(stream[i : i + 700])
    assert got == [(b"z" * (90 + i), bool(i % 3)) for i in range(60)]
    assert clock.polls == 60
    await ws.close()


async def test_after_a_fragment_websockets_parses_and_large_reads_are_sliced(server: tuple) -> None:
    url, _, _ = server
    clock = _PollCounter()
    ws = await _open(url)
    got: list[bytes] = []
    ws.set_handlers(lambda data, text, at: got.append(data), clock=clock)
    ws.data_received(_server_frame(b"frag", 0x01) + _server_frame(b"mented", 0x80))  # text, no FIN; then CONT+FIN
    frame = _server_frame(b"y" * 1000)
    clock.polls = 0
    ws.data_received(frame * 60)
    assert got == [b"fragmented"] + [b"y" * 1000] * 60
    # a poll after every message and after every 4 KiB slice of the read
    assert clock.polls >= 60 + (60 * len(frame)) // 4096
    await ws.close()


@pytest.mark.parametrize("sizes", [[320, 320, 320], [320, 0, 100, 320]])
async def test_received_frames_decode_in_batches_to_the_same_samples_and_levels(sizes: list[int]) -> None:
    from voiceobs.probe.call import CallPlan, TurnPlan, _Call
    from voiceobs.probe.prompts import load_prompt
    from voiceobs.probe.protocols import PcmWire

    prompt = load_prompt(text="Hello there.", sample_rate=16000, protocol="pcm")
    call = _Call(CallPlan(url="ws://127.0.0.1:1/", turns=[TurnPlan(prompt)]), PcmWire(), None, None)  # type: ignore[arg-type]
    rng = np.random.default_rng(3)
    frames = [(rng.standard_normal(n // 2) * 3000 * (i + 1)).astype("<i2") for i, n in enumerate(sizes)]
    for i, f in enumerate(frames[:2]):
        call.on_message(f.tobytes(), False, float(i))
    call.decode_received()  # a first batch, then the rest: nothing decoded twice
    for i, f in enumerate(frames[2:], start=2):
        call.on_message(f.tobytes(), False, float(i))
    call.decode_received()
    rec = call.rec
    assert rec.rx_at == [float(i) for i in range(len(sizes))]
    assert [a.tolist() for a in rec.rx_audio] == [f.tolist() for f in frames]
    for f, level in zip(frames, rec.rx_level, strict=True):
        x = f.astype(np.float64) / 32768.0
        expected = 10 * np.log10(max(float(np.mean(x * x)), 1e-12)) if x.size else -120.0
        assert level == pytest.approx(expected, abs=1e-3)


async def test_a_mark_sent_as_the_call_opens_belongs_to_the_first_turn() -> None:
    """A bot that announces its mode before the caller speaks (the degraded mark)."""
    import json

    from voiceobs.probe.call import CallPlan, TurnPlan, place_call
    from voiceobs.probe.prompts import load_prompt
    from voiceobs.probe.protocols import TwilioWire

    async def bot(ws: ServerConnection) -> None:
        await ws.send(json.dumps({"event": "mark", "streamSid": "MZ1", "mark": {"name": "bot-degraded"}}))
        async for message in ws:  # then echo the caller, as Twilio frames from the bot
            data = json.loads(message)
            if data.get("event") == "media":
                payload = data["media"]["payload"]
                await ws.send(json.dumps({"event": "media", "streamSid": "MZ1", "media": {"payload": payload}}))

    prompt = load_prompt(text="Hello there.", sample_rate=8000, protocol="twilio")
    async with serve(bot, "127.0.0.1", 0) as srv:
        port = srv.sockets[0].getsockname()[1]
        plan = CallPlan(url=f"ws://127.0.0.1:{port}/", turns=[TurnPlan(prompt, end_silence_s=0.3)], call_timeout_s=20)
        rec = await place_call(plan, TwilioWire())
    assert rec.turns[0].marks == ["bot-degraded"]
    assert rec.turns[0].first_loud is not None  # the echo was heard: the turn ran to its end
