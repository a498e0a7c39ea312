"""Agent turn latency under concurrent calls, micro-batching on vs off.

Turn latency = first reply audio frame received by the caller minus the
send time of the prompt's last voiced frame (the prompt is rendered with
espeak-ng; its end of speech is found once, offline, from the render). Each
concurrency level places N simultaneous Twilio calls, each speaking one
prompt in real time, against an in-process server. Per-stage latency comes
from the server's own stage histograms (mean per turn).

Baseline: micro-batching off (``max_batch=1``) measured in the same run;
the ratio printed is p95(off) / p95(on).

    .venv/bin/python benchmarks/pipelines/bench_agent.py --calls 1 8 32
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import time

import numpy as np
import websockets

from voiceobs.audio.g711 import float_to_int16, mulaw_encode
from voiceobs.audio.tts import render_speech
from voiceobs.pipelines.batcher import BatchSettings
from voiceobs.server import ServerConfig, running_server

PROMPTS = [
    "What are your opening hours?",
    "Please cancel my order.",
    "Let me talk to a human agent.",
    "I would like to book an appointment.",
]


def prompt_audio(text: str) -> tuple[np.ndarray, float]:
    audio = float_to_int16(render_speech(text, 8000))
    voiced = np.nonzero(np.abs(audio) > 300)[0]
    eos = (voiced[-1] + 1) / 8000 + 0.3  # 300 ms lead-in below
    padded = np.concatenate([np.zeros(2400, np.int16), audio, np.zeros(12000, np.int16)])
    return padded, eos


async def one_call(url: str, audio: np.ndarray, eos_s: float, sid: str) -> float | None:
    async with websockets.connect(url, max_size=2**22) as ws:
        start = {"streamSid": sid, "callSid": "CA" + sid, "accountSid": "AC1", "tracks": ["inbound"],
                 "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                 "customParameters": {}}  # fmt: skip
        await ws.send(json.dumps({"event": "start", "streamSid": sid, "start": start}))
        t0 = time.monotonic()
        first: list[float] = []

        async def reader() -> None:
            async for raw in ws:
                if json.loads(raw)["event"] == "media" and not first:
                    first.append(time.monotonic())

        task = asyncio.create_task(reader())
        for k in range(audio.size // 160):
            wait = t0 + k * 0.02 - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            payload = base64.b64encode(mulaw_encode(audio[k * 160 : (k + 1) * 160])).decode()
            await ws.send(json.dumps({"event": "media", "streamSid": sid, "media": {
                "track": "inbound", "chunk": str(k), "timestamp": str(k * 20), "payload": payload}}))  # fmt: skip
        await ws.send(json.dumps({"event": "stop", "streamSid": sid}))
        await asyncio.wait_for(task, 10)
    return first[0] - (t0 + eos_s) if first else None


async def level(url: str, n: int, prompts: list[tuple[np.ndarray, float]]) -> list[float | None]:
    calls = []
    for i in range(n):
        audio, eos = prompts[i % len(prompts)]
        calls.append(one_call(url, audio, eos, f"MZ{i:04d}"))
        await asyncio.sleep(0.013)  # spread call starts like independent callers
    return list(await asyncio.gather(*calls))


def stage_means(registry: object) -> dict[str, float]:
    out = {}
    for stage in ("vad", "asr", "respond", "tts"):
        s = registry.get_sample_value("voiceobs_server_stage_seconds_sum", {"stage": stage})  # type: ignore[attr-defined]
        c = registry.get_sample_value("voiceobs_server_stage_seconds_count", {"stage": stage})  # type: ignore[attr-defined]
        out[stage] = 1000 * s / c if c else float("nan")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    prompts = [prompt_audio(p) for p in PROMPTS]
    print(
        "| batching | calls | answered | p50 ms | p95 ms | vad ms/window | asr ms | respond ms | tts ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    p95s: dict[tuple[str, int], float] = {}
    for label, batch in (("off", BatchSettings(max_batch=1, max_wait_ms=0)),
                         ("on", BatchSettings(max_batch=32, max_wait_ms=5))):  # fmt: skip
        for n in args.calls:
            config = ServerConfig(
                pipeline="agent", port=0, device=args.device, max_calls=256, batch=batch
            )
            with running_server(config) as srv:
                lat = asyncio.run(level(srv.ws_url + "/twilio", n, prompts))
                ok = np.array([x for x in lat if x is not None]) * 1000
                stages = stage_means(srv.state.metrics.registry)
            p50 = float(np.percentile(ok, 50)) if ok.size else float("nan")
            p95 = float(np.percentile(ok, 95)) if ok.size else float("nan")
            p95s[(label, n)] = p95
            print(f"| {label} | {n} | {ok.size}/{n} | {p50:.0f} | {p95:.0f} | {stages['vad']:.1f} | "
                  f"{stages['asr']:.0f} | {stages['respond']:.2f} | {stages['tts']:.0f} |", flush=True)  # fmt: skip
    for n in args.calls:
        print(f"calls={n}: p95 off/on ratio = {p95s[('off', n)] / p95s[('on', n)]:.2f}")
    for label in ("off", "on"):
        under = [n for n in args.calls if p95s[(label, n)] < 1000]
        print(
            f"batching {label}: largest tested concurrency with p95 < 1 s: {max(under) if under else 'none'}"
        )


if __name__ == "__main__":
    main()
