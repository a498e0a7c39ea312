"""DNSMOS P.835: non-intrusive speech quality from the models in the speechmos wheel.

DNSMOS needs no reference, so it scores what an agent said as well as what
a loopback returned. speechmos wraps the same ONNX models but hangs on an
empty array, rejects samples outside [-1, 1], imports librosa for a score
it does not need here, and builds its session per process on first use; this
module runs the P.835 model directly with one session loaded once and
shared by every caller (onnxruntime sessions are safe to call concurrently).

The model scores 9.01 s windows at 16 kHz: shorter clips are tiled to that
length (as the reference scorer does), longer ones are scored in windows
one second apart and averaged. The windows go through the model one at a
time, as speechmos runs them: the model needs about 130 MB of activations
per window in flight, so stacking all of a long clip's windows into one
batch (as this module once did) asked for 15 GB for two minutes and 131 GB
for thirty. One at a time, memory stays flat whatever the length, at the
same throughput (figures in benchmarks/quality/RESULTS.md).
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voiceobs.errors import QualityError
from voiceobs.quality.checks import MAX_SECONDS, check_duration

SAMPLE_RATE = 16000
INPUT_SECONDS = 9.01
#: Below one second the tiled clip is mostly repetition; the score means little.
MIN_SECONDS = 1.0

# Polynomials mapping raw model outputs to P.835 MOS (published with DNSMOS).
_P_SIG = np.poly1d([-0.08397278, 1.22083953, 0.0052439])
_P_BAK = np.poly1d([-0.13166888, 1.60915514, -0.39604546])
_P_OVR = np.poly1d([-0.06766283, 1.11546468, 0.04602535])

_lock = threading.Lock()
_sessions: dict[str, Any] = {}


@dataclass(frozen=True)
class DnsMos:
    """P.835 scores on the 1-5 MOS scale."""

    ovrl: float
    sig: float
    bak: float


def model_path() -> Path:
    """Where the speechmos wheel keeps the P.835 ONNX model (nothing is downloaded)."""
    spec = importlib.util.find_spec("speechmos")
    if spec is None or not spec.submodule_search_locations:
        raise QualityError(
            "dnsmos_unavailable", "speechmos is not installed; pip install speechmos"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "dnsmos_models" / "sig_bak_ovr.onnx"
    if not path.is_file():
        raise QualityError(
            "dnsmos_unavailable", f"DNSMOS model missing at {path}; reinstall speechmos"
        )
    return path


def _session(device: str = "cpu") -> Any:
    """The shared onnxruntime session for ``device`` (created on first use)."""
    with _lock:
        sess = _sessions.get(device)
        if sess is None:
            import onnxruntime as ort

            providers = ["CPUExecutionProvider"]
            if (
                device.startswith("cuda")
                and "CUDAExecutionProvider" in ort.get_available_providers()
            ):
                providers.insert(0, "CUDAExecutionProvider")
            opts = ort.SessionOptions()
            opts.log_severity_level = 3
            sess = ort.InferenceSession(str(model_path()), sess_options=opts, providers=providers)
            _sessions[device] = sess
        return sess


def _windows(audio: np.ndarray) -> Iterator[np.ndarray]:
    """The windows the published scorer visits, as [1, 9.01 s] float32 arrays, one by one.

    Each is clipped to [-1, 1] on its own, so a long clip is never copied whole.
    """
    need = int(INPUT_SECONDS * SAMPLE_RATE)
    while audio.shape[0] < need:
        audio = np.concatenate([audio, audio])
    hops = int(np.floor(audio.shape[0] / SAMPLE_RATE) - INPUT_SECONDS) + 1
    # Window ends computed exactly as the published scorer does (a float product,
    # truncated): some land one sample short and are skipped there, so here too.
    found = False
    for i in range(hops):
        seg = audio[int(i * SAMPLE_RATE) : int((i + INPUT_SECONDS) * SAMPLE_RATE)]
        if seg.shape[0] >= need:
            found = True
            yield np.clip(seg, -1.0, 1.0).astype(np.float32)[np.newaxis, :]
    if not found:
        yield np.clip(audio[:need], -1.0, 1.0).astype(np.float32)[np.newaxis, :]


def dnsmos(audio: np.ndarray, sample_rate: int = SAMPLE_RATE, device: str = "cpu") -> DnsMos:
    """Score 16 kHz mono float audio; raises ``QualityError`` for unusable input.

    Samples beyond [-1, 1] are clipped (the model was trained on that range);
    the caller flags clipping separately.
    """
    if sample_rate != SAMPLE_RATE:
        raise QualityError("unsupported_rate", f"DNSMOS needs 16000 Hz audio, got {sample_rate}")
    x = np.asarray(audio).reshape(-1)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)  # float32 stays float32: each window becomes float32 anyway
    if not np.all(np.isfinite(x)):
        raise QualityError("invalid_samples", "audio has NaN or infinite samples")
    if x.shape[0] < MIN_SECONDS * SAMPLE_RATE:
        raise QualityError("too_short", f"DNSMOS needs at least {MIN_SECONDS:g} s of audio")
    check_duration(x.shape[0], SAMPLE_RATE, "audio", MAX_SECONDS)
    if not np.any(x):
        raise QualityError("no_speech", "audio is all zeros")
    sess = _session(device)
    raw = np.concatenate(
        [np.asarray(sess.run(None, {"input_1": w})[0], dtype=np.float64) for w in _windows(x)]
    )
    sig = float(np.mean(_P_SIG(raw[:, 0])))
    bak = float(np.mean(_P_BAK(raw[:, 1])))
    ovr = float(np.mean(_P_OVR(raw[:, 2])))
    if not all(np.isfinite(v) for v in (sig, bak, ovr)):
        raise QualityError("dnsmos_invalid", "the DNSMOS model returned a non-finite score")
    return DnsMos(ovrl=ovr, sig=sig, bak=bak)


__all__ = ["MIN_SECONDS", "SAMPLE_RATE", "DnsMos", "dnsmos", "model_path"]
