"""Reading audio files into the float arrays every voiceobs metric takes.

Anything libsndfile reads (WAV, FLAC, OGG, AIFF, ...) loads as float64 in
[-1, 1]. A file that cannot be decoded is a ``QualityError`` with reason
``unreadable``, so a probe stores why it could not score rather than
crashing. Stereo is refused by default (``not_mono``): in a recorded call
the channels are usually the two parties, and mixing them would score the
caller's voice as the bot's. Pass ``downmix=True`` when the channels are
copies of one signal.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from voiceobs.errors import AudioError, QualityError


def load_audio(path: str | Path, *, downmix: bool = False) -> tuple[np.ndarray, int]:
    """Return ``(samples, sample_rate)`` with ``samples`` mono float64."""
    p = Path(path)
    if not p.exists():
        raise AudioError(f"{p}: no such file; check the path")
    if p.is_dir():
        raise AudioError(f"{p}: is a directory; give an audio file")
    try:
        data, rate = sf.read(str(p), dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError, OSError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise QualityError(
            "unreadable", f"{p}: cannot decode audio ({detail}); is it a WAV/FLAC/OGG file?"
        ) from exc
    channels = data.shape[1]
    if channels > 1 and not downmix:
        raise QualityError(
            "not_mono",
            f"{p} has {channels} channels; give a mono file (sox in.wav out.wav remix 1) "
            "or downmix explicitly",
        )
    mono = data.mean(axis=1) if channels > 1 else data[:, 0]
    if not np.all(np.isfinite(mono)):
        raise QualityError("invalid_samples", f"{p} contains NaN or infinite samples")
    return np.ascontiguousarray(mono), int(rate)


def save_audio(path: str | Path, audio: np.ndarray, sample_rate: int) -> None:
    """Write mono float audio as 16-bit PCM WAV (what telephony tools expect)."""
    sf.write(str(path), np.asarray(audio, dtype=np.float64), int(sample_rate), subtype="PCM_16")


__all__ = ["load_audio", "save_audio"]
