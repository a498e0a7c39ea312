"""Quality-metric throughput: audio-seconds scored per wall-second.

Baselines, measured in the same run on the same audio: pystoi (STOI and
ESTOI) and pesq called one pair at a time. voiceobs is measured at batch
1 and batch 32 (stoi_estoi_batch for STOI+ESTOI, score_batch's process
pool for PESQ). Prints one line per metric with the ratio to its baseline.

    .venv/bin/python benchmarks/quality/bench_quality.py [--device cuda] [--pairs 32]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

PROMPTS = [
    "Hello, thank you for calling. How can I help you today?",
    "Please say your account number, then press the pound key.",
    "Your appointment is confirmed for Tuesday at three in the afternoon.",
    "I am sorry, I did not catch that. Could you say it again?",
]


def _pairs(n: int, rate: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from voiceobs.audio.tts import render_speech

    rng = np.random.default_rng(0)
    cache = Path(tempfile.mkdtemp(prefix="bench-tts-"))
    clean = [render_speech(p, rate, cache_dir=cache).astype(np.float64) for p in PROMPTS]
    out = []
    for i in range(n):
        x = clean[i % len(clean)]
        snr = (0, 5, 10, 20)[i % 4]
        noise = rng.standard_normal(x.shape[0])
        noise *= np.sqrt(np.mean(x**2) / np.mean(noise**2) / 10 ** (snr / 10))
        out.append((x, x + noise))
    return out


def _timed(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm up (model loads, thread pools, plans)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", help="torch device for STOI/ESTOI (cpu, cuda)")
    ap.add_argument("--pairs", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("--device cuda given but torch sees no GPU")

    from pesq import pesq
    from pystoi import stoi as pystoi

    from voiceobs.quality import score_batch
    from voiceobs.quality.stoi import stoi_estoi_batch

    rate = 16000
    pairs = _pairs(args.pairs, rate)
    seconds = sum(d.shape[0] for _, d in pairs) / rate
    one = pairs[:1]
    one_s = one[0][1].shape[0] / rate
    print(f"{len(pairs)} pairs, {seconds:.1f} audio-s, device={args.device}, "
          f"torch threads={torch.get_num_threads()}")  # fmt: skip

    def base_stoi() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for c, d in pairs:
                pystoi(c, d, rate)
                pystoi(c, d, rate, extended=True)

    def ours_stoi(batch: list[tuple[np.ndarray, np.ndarray]]) -> Callable[[], None]:
        def run() -> None:
            s, _e = stoi_estoi_batch(
                [c for c, _ in batch], [d for _, d in batch], rate, device=args.device
            )
            if s.is_cuda:
                torch.cuda.synchronize()

        return run

    def base_pesq() -> None:
        for c, d in pairs:
            pesq(rate, c, d, "wb")

    def ours_pesq(batch: list[tuple[np.ndarray, np.ndarray]]) -> Callable[[], None]:
        return lambda: score_batch(batch, rate, ["pesq_wb"], align=False)

    rows = []
    t_base = _timed(base_stoi, 1)
    t1 = _timed(ours_stoi(one), args.repeat)
    t32 = _timed(ours_stoi(pairs), args.repeat)
    base = seconds / t_base
    rows.append(("STOI+ESTOI", "pystoi, one at a time", base, one_s / t1, seconds / t32))
    t_base = _timed(base_pesq, 1)
    t1 = _timed(ours_pesq(one), 1)
    t32 = _timed(ours_pesq(pairs), 1)
    rows.append(("PESQ-WB", "pesq, one at a time", seconds / t_base, one_s / t1, seconds / t32))

    print(f"{'metric':<11} {'baseline':<22} {'base a-s/s':>10} {'b=1 a-s/s':>10} "
          f"{'b=32 a-s/s':>10} {'b=32 ratio':>10}")  # fmt: skip
    for name, label, b, r1, r32 in rows:
        print(f"{name:<11} {label:<22} {b:>10.1f} {r1:>10.1f} {r32:>10.1f} {r32 / b:>9.2f}x")


if __name__ == "__main__":
    main()
