"""Ways a call degrades speech, applied to real renders in the quality tests."""

from __future__ import annotations

import numpy as np
import torch
import torchaudio.functional as AF


def add_noise(x: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(x.shape[0])
    noise *= np.sqrt(np.mean(x**2) / np.mean(noise**2) / 10 ** (snr_db / 10))
    return x + noise


def mulaw_roundtrip(x: np.ndarray) -> np.ndarray:
    """G.711 mu-law encode and decode (256 levels), as a telephone trunk does."""
    t = torch.from_numpy(np.clip(x, -1, 1))
    return AF.mu_law_decoding(AF.mu_law_encoding(t, 256), 256).numpy().astype(np.float64)


def packet_loss(x: np.ndarray, rate: int, loss: float, seed: int) -> np.ndarray:
    """Zero whole 20 ms packets at random, as a jitter buffer without concealment does."""
    rng = np.random.default_rng(seed)
    out = x.copy()
    frame = rate // 50
    for start in range(0, x.shape[0], frame):
        if rng.random() < loss:
            out[start : start + frame] = 0.0
    return out


CONDITIONS = ("clean", "snr-5", "snr0", "snr10", "snr20", "mulaw", "loss10")


def degrade(x: np.ndarray, condition: str, rate: int = 16000) -> np.ndarray:
    if condition == "clean":
        return x.copy()
    if condition.startswith("snr"):
        return add_noise(x, float(condition[3:]), seed=abs(int(condition[3:])) + 1)
    if condition == "mulaw":
        return mulaw_roundtrip(x)
    if condition == "loss10":
        return packet_loss(x, rate, 0.10, seed=7)
    raise ValueError(condition)
