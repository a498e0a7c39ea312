"""Reading audio files into the float arrays every voiceobs metric takes.

Anything libsndfile reads (WAV, FLAC, OGG, AIFF, ...) loads as float64 in
[-1, 1]. A file that cannot be decoded is a ``QualityError`` with reason
``unreadable``, so a probe stores why it could not score rather than
crashing. Stereo is refused by default (``not_mono``): in a recorded call
the channels are usually the two parties, and mixing them would score the
caller's voice as the bot's. Pass ``downmix=True`` when the channels are
copies of one signal.

The header is read first, so a file that is stereo or longer than the
caller's ``max_seconds`` is refused before any sample is read, and samples
are read in blocks into one array (a long multi-channel file never sits in
memory as channels). A float file with NaN or infinite samples is refused
(``invalid_samples``) with the count, whatever reads it next. With
``compact=True`` a mono file whose samples float32 holds exactly (integers
of up to 24 bits, 32-bit float, the companded and compressed formats) comes
back as float32: the same values in half the memory, which is what lets a
30-minute recording be scored in bounded memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from voiceobs.errors import AudioError, QualityError

_BLOCK_FRAMES = 1 << 18
#: Subtypes with samples float32 cannot hold exactly; these load as float64.
_WIDE_SUBTYPES = frozenset({"PCM_32", "DOUBLE", "ALAC_32"})
_DECODE_ERRORS = (sf.LibsndfileError, RuntimeError, ValueError, OSError, TypeError, EOFError)


def _unreadable(p: Path, exc: BaseException) -> QualityError:
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return QualityError(
        "unreadable", f"{p}: cannot decode audio ({detail}); is it a WAV/FLAC/OGG file?"
    )


def load_audio(
    path: str | Path,
    *,
    downmix: bool = False,
    max_seconds: float | None = None,
    compact: bool = False,
) -> tuple[np.ndarray, int]:
    """Return ``(samples, sample_rate)`` with ``samples`` mono float64 (or float32, see ``compact``).

    ``max_seconds`` refuses a longer file (``too_long``) from its header,
    before reading it. ``compact`` returns float32 where that loses nothing
    (see the module docstring).
    """
    p = Path(path)
    if not p.exists():
        raise AudioError(f"{p}: no such file; check the path")
    if p.is_dir():
        raise AudioError(f"{p}: is a directory; give an audio file")
    frames = 0
    try:
        with sf.SoundFile(str(p)) as f:
            rate, channels, frames = int(f.samplerate), int(f.channels), int(f.frames)
            if channels > 1 and not downmix:
                raise QualityError(
                    "not_mono",
                    f"{p} has {channels} channels; give a mono file (sox in.wav out.wav remix 1) "
                    "or downmix explicitly",
                )
            if max_seconds is not None and frames > max_seconds * rate:
                raise QualityError(
                    "too_long",
                    f"{p} is {frames / rate:.1f} s long; at most {max_seconds:g} s is scored, "
                    f"so cut it into parts (sox in.wav part.wav trim 0 {max_seconds:g})",
                )
            narrow = compact and channels == 1 and str(f.subtype) not in _WIDE_SUBTYPES
            mono, bad = _read_mono(f, frames, np.float32 if narrow else np.float64)
    except MemoryError:
        raise AudioError(f"{p}: too large to load ({frames} frames); cut it into parts") from None
    except _DECODE_ERRORS as exc:
        raise _unreadable(p, exc) from exc
    if bad:
        raise QualityError(
            "invalid_samples",
            f"{p} has {bad} NaN or infinite samples; re-export it or fix what wrote it",
        )
    return mono, rate


def _read_mono(
    f: sf.SoundFile, frames: int, dtype: type[np.floating[Any]]
) -> tuple[np.ndarray, int]:
    """All samples of ``f`` as one mono array of ``dtype``, and how many are not finite."""
    out = np.empty(max(frames, 0), dtype=dtype)
    filled = bad = 0
    # Blocks of about _BLOCK_FRAMES samples whatever the channel count.
    blocksize = max(1024, _BLOCK_FRAMES // max(f.channels, 1))
    for block in f.blocks(blocksize=blocksize, dtype="float64", always_2d=True):
        mono = block.mean(axis=1) if block.shape[1] > 1 else block[:, 0]
        bad += int(np.count_nonzero(~np.isfinite(mono)))
        end = filled + mono.shape[0]
        if end > out.shape[0]:  # the header under-counted (some compressed formats)
            grown = np.empty(end - filled + _BLOCK_FRAMES, dtype=dtype)
            out = np.concatenate([out[:filled], grown])
        out[filled:end] = mono
        filled = end
    return out[:filled], bad


def save_audio(path: str | Path, audio: np.ndarray, sample_rate: int) -> None:
    """Write mono float audio as 16-bit PCM WAV (what telephony tools expect)."""
    sf.write(str(path), np.asarray(audio, dtype=np.float64), int(sample_rate), subtype="PCM_16")


__all__ = ["load_audio", "save_audio"]
