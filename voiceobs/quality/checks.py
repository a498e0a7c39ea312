"""Input checks shared by every quality metric.

A metric fed garbage returns garbage with confidence: PESQ prints its usage
text and raises for a wrong rate, returns NaN for silence, and STOI quietly
returns 1e-5 for clips that are too short. So every input is checked once,
here, and each problem gets a short machine-readable reason that is stored
next to the result:

``not_mono``          more than one channel (intrusive scores need the one
                      channel that was sent; downmixing a two-party call
                      would blend caller and bot)
``unsupported_rate``  not one of :data:`SUPPORTED_RATES`
``invalid_samples``   NaN or infinite samples
``too_short``         shorter than a metric needs
``too_long``          longer than :data:`MAX_SECONDS` (refused before any
                      work, so memory stays bounded; cut the file)
``no_speech``         digital silence, or too quiet to hold speech

Clipping is not an error: a clipped reply is a real defect the caller hears,
so it is scored and flagged (``clipped`` in ``QualityScores.warnings``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from voiceobs.errors import QualityError

#: Rates scoring accepts: telephony (8 kHz), wide-band (16 kHz), and the
#: common TTS and studio rates.
SUPPORTED_RATES: tuple[int, ...] = (8000, 16000, 22050, 24000, 44100, 48000)

#: Longest signal scored, in seconds (half an hour). Longer audio is
#: scored in bounded pieces up to this, with memory growing linearly up to
#: the figures in benchmarks/quality/RESULTS.md; past it, ``too_long``. A
#: probe reply stops at ten minutes, so only recordings reach the limit.
MAX_SECONDS = 1800.0

#: Samples per block when reducing a long signal, so no full-length temporary is made.
_BLOCK = 1 << 20

#: Below this RMS (about -80 dBFS) a signal holds no speech worth scoring.
SILENCE_RMS = 1e-4

#: Fraction of samples at full scale beyond which a signal counts as clipped.
CLIP_FRACTION = 1e-3
_CLIP_LEVEL = 0.999


def check_rate(sample_rate: int, what: str | None = None) -> int:
    """Return ``sample_rate`` if supported, else raise ``unsupported_rate`` (naming ``what``)."""
    if int(sample_rate) != sample_rate or int(sample_rate) not in SUPPORTED_RATES:
        rates = ", ".join(str(r) for r in SUPPORTED_RATES)
        subject = f"{what} has sample rate" if what else "sample rate"
        raise QualityError(
            "unsupported_rate",
            f"{subject} {sample_rate} Hz, which is not supported; resample to one of {rates}",
        )
    return int(sample_rate)


def as_mono(audio: Any, what: str = "audio") -> np.ndarray:
    """Turn a numpy array or torch tensor into a 1-D float array, or raise.

    A [1, T] or [T, 1] array counts as mono; anything wider is ``not_mono``.
    float32 and float64 come back as they are, without a copy (a long
    recording is large enough already): every metric widens float32 to
    float64 exactly where it computes in float64, so the scores are the
    same either way. Integers are scaled to [-1, 1] as float64.
    """
    if hasattr(audio, "detach"):  # torch tensor, without importing torch here
        audio = audio.detach().cpu().numpy()
    arr = np.asarray(audio)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise QualityError(
            "not_mono",
            f"{what} has shape {arr.shape}; give one channel (e.g. audio[:, 0])",
        )
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise QualityError("invalid_samples", f"{what} has dtype {arr.dtype}; give real numbers")
    if np.issubdtype(arr.dtype, np.integer):
        # PCM integers: scale to [-1, 1] so levels mean the same as float audio.
        scale = float(np.iinfo(arr.dtype).max) + 1.0
        return arr.astype(np.float64) / scale
    out = arr if arr.dtype in (np.float32, np.float64) else arr.astype(np.float64)
    if not np.all(np.isfinite(out)):
        bad = int(np.count_nonzero(~np.isfinite(out)))
        raise QualityError(
            "invalid_samples", f"{what} has {bad} NaN or infinite samples; fix the decoder upstream"
        )
    return out


def check_length(audio: np.ndarray, sample_rate: int, min_seconds: float, what: str) -> None:
    """Raise ``too_short`` when ``audio`` is shorter than ``min_seconds``."""
    if audio.shape[0] < min_seconds * sample_rate:
        raise QualityError(
            "too_short",
            f"{what} is {audio.shape[0] / sample_rate:.3f} s; at least {min_seconds:g} s is needed",
        )


def check_duration(
    n_samples: int, sample_rate: int, what: str, max_seconds: float = MAX_SECONDS
) -> None:
    """Raise ``too_long`` when ``n_samples`` at ``sample_rate`` is over ``max_seconds``."""
    if n_samples > max_seconds * sample_rate:
        raise QualityError(
            "too_long",
            f"{what} is {n_samples / sample_rate:.1f} s; at most {max_seconds:g} s is scored, "
            f"so cut it into parts (sox in.wav part.wav trim 0 {max_seconds:g})",
        )


def rms(audio: np.ndarray, *, centred: bool = False) -> float:
    """Root mean square of a 1-D signal (about its mean with ``centred``), in blocks.

    Summed block by block so a long recording needs no full-length temporary.
    """
    if audio.size == 0:
        return 0.0
    mean = float(np.mean(audio, dtype=np.float64)) if centred else 0.0
    total = 0.0
    for start in range(0, audio.size, _BLOCK):
        block = audio[start : start + _BLOCK].astype(np.float64, copy=False)
        if centred:
            block = block - mean
        total += float(np.dot(block, block))
    return float(np.sqrt(total / audio.size))


def check_speech(audio: np.ndarray, what: str) -> None:
    """Raise ``no_speech`` for silence: all zeros, a constant level, or under -80 dBFS RMS.

    The level is taken about the mean, so a DC offset with nothing on it is
    silence too (there is nothing to align or score).
    """
    level = rms(audio, centred=True)
    if level < SILENCE_RMS:
        raise QualityError(
            "no_speech", f"{what} is silent (RMS {level:.1e}); check that audio was captured"
        )


def is_clipped(audio: np.ndarray) -> bool:
    """True when more than 0.1 % of samples sit at full scale (or beyond)."""
    if audio.size == 0:
        return False
    full = 0
    for start in range(0, audio.size, _BLOCK):
        block = audio[start : start + _BLOCK].astype(np.float64, copy=False)
        full += int(np.count_nonzero(np.abs(block) >= _CLIP_LEVEL))
    return bool(full > CLIP_FRACTION * audio.size)


__all__ = [
    "CLIP_FRACTION",
    "MAX_SECONDS",
    "SILENCE_RMS",
    "SUPPORTED_RATES",
    "as_mono",
    "check_duration",
    "check_length",
    "check_rate",
    "check_speech",
    "is_clipped",
    "rms",
]
