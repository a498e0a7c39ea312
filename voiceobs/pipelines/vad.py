"""Silero VAD with per-call state, batched across calls.

Silero v5 is a small recurrent model: each 32 ms window (512 samples at
16 kHz, 256 at 8 kHz) is scored together with the previous window's last
samples (its "context") and the recurrent state. The wheel's wrapper keeps
one state inside the model, which serves one stream. Here every call owns
its own state and context, and the scheduler stacks them row by row: the
inner network accepts a batch with a per-row state of shape
``(2, batch, 128)``, so a batch of N calls is one forward pass and each call
gets exactly the probabilities it would get alone. Calls at 8 kHz and
16 kHz are batched separately (two sub-networks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from voiceobs.errors import PipelineError


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without one is a user error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise PipelineError(
            "--device cuda was asked for but no CUDA device is visible; use cpu or auto"
        )
    if device != "cpu" and not device.startswith("cuda"):
        raise PipelineError(f"unknown device {device!r}; use auto, cpu or cuda")
    return torch.device(device)


def window_samples(sample_rate: int) -> int:
    """Samples per VAD window: 512 at 16 kHz, 256 at 8 kHz (32 ms)."""
    if sample_rate == 16000:
        return 512
    if sample_rate == 8000:
        return 256
    raise PipelineError(f"silero VAD runs at 8000 or 16000 Hz, not {sample_rate}")


class VadStream:
    """One call's recurrent state and context; owned by exactly one call."""

    def __init__(self, sample_rate: int, device: torch.device) -> None:
        self.sample_rate = sample_rate
        self.window = window_samples(sample_rate)
        context = 64 if sample_rate == 16000 else 32
        self.state = torch.zeros(2, 1, 128, device=device)
        self.context = torch.zeros(1, context, device=device)


@dataclass
class VadRequest:
    """One window of float32 samples for one stream."""

    stream: VadStream
    samples: np.ndarray


class SileroVad:
    """The bundled silero model (no download) and a batched step function."""

    def __init__(self, device: torch.device) -> None:
        from silero_vad import load_silero_vad

        self.device = device
        model = load_silero_vad(onnx=False)
        model.eval()
        self._nets = {16000: model._model.to(device), 8000: model._model_8k.to(device)}
        self._keep = model

    def new_stream(self, sample_rate: int) -> VadStream:
        """Fresh state for a new call."""
        return VadStream(sample_rate, self.device)

    def infer(self, requests: Sequence[VadRequest]) -> list[float]:
        """Speech probability per request; advances each request's stream state."""
        results: list[float] = [0.0] * len(requests)
        for rate in (16000, 8000):
            idx = [i for i, r in enumerate(requests) if r.stream.sample_rate == rate]
            if not idx:
                continue
            rows = [requests[i] for i in idx]
            with torch.inference_mode():
                audio = torch.from_numpy(np.stack([r.samples for r in rows])).to(self.device)
                context = torch.cat([r.stream.context for r in rows], dim=0)
                x = torch.cat([context, audio], dim=1)
                state = torch.cat([r.stream.state for r in rows], dim=1)
                out, new_state = self._nets[rate](x, state)
                ctx = context.shape[1]
                for j, r in enumerate(rows):
                    r.stream.state = new_state[:, j : j + 1].clone()
                    r.stream.context = x[j : j + 1, -ctx:].clone()
                probs = out.reshape(-1).float().cpu().tolist()
            for j, i in enumerate(idx):
                results[i] = float(probs[j])
        return results


__all__ = ["SileroVad", "VadRequest", "VadStream", "resolve_device", "window_samples"]
