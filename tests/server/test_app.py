"""The real server on loopback, called by a real websockets client."""

from __future__ import annotations

import asyncio
import json

import httpx
import numpy as np
import pytest
import websockets
from pesq import pesq

from voiceobs.audio.g711 import float_to_int16, mulaw_decode, mulaw_encode
from voiceobs.audio.tts import render_speech
from voiceobs.server import ServerConfig, ServerHandle, running_server

from .conftest import frames, media_message, speak, start_message, twilio_call

pytestmark = pytest.mark.slow

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def echo() -> ServerHandle:
    with running_server(ServerConfig(pipeline="echo", port=0, admin_token=TOKEN)) as srv:
        yield srv


@pytest.fixture(scope="module")
def agent(span_exporter: object) -> ServerHandle:
    with running_server(ServerConfig(pipeline="agent", port=0, device="cpu")) as srv:
        yield srv


def metric(srv: ServerHandle, name: str, labels: dict[str, str] | None = None) -> float:
    value = srv.state.metrics.registry.get_sample_value(name, labels or {})
    return float(value or 0.0)


# --- echo ---------------------------------------------------------------------


async def test_echo_twilio_pesq_nb(echo: ServerHandle) -> None:
    original = speak("The quick brown fox jumps over the lazy dog.", 8000)
    got, _ = await twilio_call(echo.ws_url + "/twilio", original, pace=False, listen_s=0.5)
    received = got.pcm()
    assert got.close_code == 1000
    assert received.size == len(list(frames(original, 160))) * 160
    score = pesq(
        8000, original.astype(np.float32), received[: original.size].astype(np.float32), "nb"
    )
    assert score >= 3.5, score


async def test_echo_pcm_bit_exact_and_ack(echo: ServerHandle) -> None:
    rng = np.random.default_rng(1)
    audio = (rng.standard_normal(320 * 20) * 3000).astype(np.int16)
    async with websockets.connect(echo.ws_url + "/pcm") as ws:
        await ws.send(json.dumps({"event": "start", "sample_rate": 16000, "call_id": "c1"}))
        ack = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert ack == {
            "event": "started", "call_id": "c1", "sample_rate": 16000, "frame_bytes": 640,
            "mode": "normal",
        }  # fmt: skip
        for frame in frames(audio, 320):
            await ws.send(frame.astype("<i2").tobytes())
        back = [await asyncio.wait_for(ws.recv(), 5) for _ in range(20)]
        await ws.send(json.dumps({"event": "stop"}))
        with pytest.raises(websockets.ConnectionClosedOK):
            await asyncio.wait_for(ws.recv(), 5)
    assert np.array_equal(np.frombuffer(b"".join(back), "<i2"), audio)


# --- bad input ------------------------------------------------------------------

BAD_TWILIO = [
    ("not json", 1007),
    (json.dumps({"event": "bogus"}), 1008),
    (json.dumps(["event"]), 1008),
    (media_message("MZ0001", 0, b"\xff" * 160), 1008),  # media before start
]


async def _bad_call(url: str, messages: list[str | bytes]) -> tuple[int | None, str]:
    async with websockets.connect(url) as ws:
        try:
            for m in messages:
                await ws.send(m)
            await asyncio.wait_for(ws.recv(), 5)
            await asyncio.wait_for(ws.recv(), 5)
        except websockets.ConnectionClosed:
            pass
        await asyncio.wait_for(ws.wait_closed(), 5)
        return ws.close_code, ws.close_reason or ""


async def test_bad_input_closes_only_that_call(echo: ServerHandle) -> None:
    url = echo.ws_url + "/twilio"
    start = start_message()
    bad_payload = json.loads(media_message("MZ0001", 0, b"\x00" * 160))
    bad_payload["media"]["payload"] = "%%% not base64 %%%"
    cases: list[tuple[list[str | bytes], int, str]] = [
        (["{oops"], 1007, "malformed JSON"),
        ([json.dumps({"event": "bogus"})], 1008, "unknown event"),
        ([media_message("MZ0001", 0, b"\xff" * 160)], 1008, "media before start"),
        ([start, media_message("MZ0001", 0, b"\xff" * 100)], 1007, "160 bytes"),
        ([start, json.dumps(bad_payload)], 1007, "base64"),
        ([start, start], 1008, "second start"),
        ([start, b"\x00" * 160], 1003, "binary"),
        ([json.dumps({"event": "dtmf", "dtmf": {"track": "inbound_track", "digit": "1"}})], 1008, "dtmf before start"),
        ([start, json.dumps({"event": "dtmf", "dtmf": {"track": "inbound_track", "digit": "12"}})], 1008, "dtmf.digit"),
        ([start, json.dumps({"event": "dtmf", "dtmf": "1"})], 1008, "dtmf.digit"),
    ]
    good_audio = speak("Please cancel my order.", 8000)
    good = asyncio.create_task(twilio_call(url, good_audio, listen_s=0.3, sid="MZgood"))
    await asyncio.sleep(0.3)
    results = await asyncio.gather(*[_bad_call(url, msgs) for msgs, _, _ in cases])
    for (_, code, words), (got_code, reason) in zip(cases, results, strict=True):
        assert got_code == code, (words, got_code, reason)
        assert words.lower() in reason.lower(), reason
    pcm_cases: list[tuple[list[str | bytes], int]] = [
        ([b"\x00" * 640], 1008),
        ([json.dumps({"event": "start"}), b"\x00" * 100], 1007),
        ([json.dumps({"event": "start", "sample_rate": 8000})], 1003),
    ]
    for msgs, code in pcm_cases:
        got_code, _ = await _bad_call(echo.ws_url + "/pcm", msgs)
        assert got_code == code
    received, _ = await good
    assert received.close_code == 1000
    assert received.pcm().size >= good_audio.size  # the good call got all its audio back
    assert (
        metric(
            echo,
            "voiceobs_server_protocol_errors_total",
            {"protocol": "twilio", "reason": "malformed_json"},
        )
        >= 1
    )


# --- admission, health, admin -------------------------------------------------------


async def test_admission_refuses_with_503() -> None:
    with running_server(ServerConfig(pipeline="echo", port=0, max_calls=1)) as srv:
        async with websockets.connect(srv.ws_url + "/twilio") as first:
            await first.send(start_message())
            await asyncio.sleep(0.1)
            with pytest.raises(websockets.InvalidStatus) as info:
                async with websockets.connect(srv.ws_url + "/twilio"):
                    pass
            assert info.value.response.status_code == 503
            async with httpx.AsyncClient() as client:
                ready = await client.get(srv.http_url + "/readyz")
                assert ready.status_code == 503 and ready.json()["active_calls"] == 1
        assert metric(srv, "voiceobs_server_rejected_calls_total", {"reason": "capacity"}) == 1
        await asyncio.sleep(0.2)
        async with websockets.connect(srv.ws_url + "/twilio") as again:  # capacity is back
            await again.send(start_message())


async def test_health_ready_metrics(echo: ServerHandle) -> None:
    async with httpx.AsyncClient() as client:
        assert (await client.get(echo.http_url + "/healthz")).status_code == 200
        ready = await client.get(echo.http_url + "/readyz")
        assert ready.status_code == 200 and ready.json()["pipeline"] == "echo"
        text = (await client.get(echo.http_url + "/metrics")).text
    for name in (
        "voiceobs_server_active_calls",
        "voiceobs_server_rejected_calls_total",
        "voiceobs_server_protocol_errors_total",
        "voiceobs_server_batch_size",
        "voiceobs_server_queue_wait_seconds",
        "voiceobs_server_stage_seconds",
    ):
        assert name in text


async def test_admin_auth_and_degraded_mode() -> None:
    with running_server(ServerConfig(pipeline="echo", port=0)) as open_srv:
        async with httpx.AsyncClient() as client:
            r = await client.post(open_srv.http_url + "/admin/mode", json={"mode": "degraded"})
            assert r.status_code == 403
    with running_server(ServerConfig(pipeline="echo", port=0, admin_token=TOKEN)) as srv:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient() as client:
            url = srv.http_url + "/admin/mode"
            assert (await client.post(url, json={"mode": "degraded"})).status_code == 401
            bad = {"Authorization": "Bearer nope"}
            assert (
                await client.post(url, json={"mode": "degraded"}, headers=bad)
            ).status_code == 401
            assert (await client.post(url, json={"mode": "odd"}, headers=auth)).status_code == 400
            r = await client.post(url, json={"mode": "degraded"}, headers=auth)
            assert r.json()["mode"] == "degraded"
            assert (await client.get(url, headers=auth)).json()["mode"] == "degraded"
        prompt = speak("hello", 8000)
        got, _ = await twilio_call(srv.ws_url + "/twilio", prompt, listen_s=3.5)
        assert "mark:voiceobs-degraded" in got.names()
        apology = mulaw_decode(
            mulaw_encode(float_to_int16(render_speech(srv.state.config.apology, 8000)))
        )
        received = got.pcm()
        n = min(apology.size, received.size) // 160 * 160
        assert n > 8000  # more than a second of apology, not an echo of the prompt
        assert np.array_equal(received[:n], apology[:n])
        # pcm callers get a JSON mode event
        async with websockets.connect(srv.ws_url + "/pcm") as ws:
            await ws.send(json.dumps({"event": "start"}))
            ack = json.loads(await ws.recv())
            assert ack["mode"] == "degraded"
            event = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert event["event"] == "mode" and event["mode"] == "degraded" and event["message"]


async def test_admin_fault_refuses_nan_and_absurd_values_and_keeps_the_old_set() -> None:
    with running_server(ServerConfig(pipeline="echo", port=0, admin_token=TOKEN)) as srv:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        url = srv.http_url + "/admin/fault"
        async with httpx.AsyncClient() as client:
            assert (
                await client.post(url, json={"fault": "delay=200"}, headers=auth)
            ).status_code == 200
            for bad in ("drop=nan", "delay=1e12", "delay=inf", "stop_late=nan", "dead_air=1e9", "greeting_delay=-1"):
                r = await client.post(url, json={"fault": bad}, headers=auth)
                assert r.status_code == 400
                assert "finite" in r.json()["error"] or "at most" in r.json()["error"]
            assert (await client.get(url, headers=auth)).json()["fault"] == "delay=200"
            # The conversation faults are set server-wide the same way, for every call after.
            r = await client.post(url, json={"fault": "stop_late=300,ignore_barge_in"}, headers=auth)
            assert r.status_code == 200
            assert (await client.get(url, headers=auth)).json()["fault"] == "ignore_barge_in,stop_late=300"
