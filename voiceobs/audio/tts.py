"""Speech rendering with espeak-ng, cached by content hash.

Probes speak their prompts and the agent pipeline speaks its replies. espeak-ng
is deterministic (the same text and settings give the same samples), which is
what makes a prompt's end-of-speech time and a golden reply reusable: render
once, cache by a hash of everything that shapes the audio, reuse forever.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from voiceobs.errors import AudioError

#: espeak-ng's native output rate.
ESPEAK_RATE = 22050


@dataclass(frozen=True)
class Voice:
    """espeak-ng voice settings; part of the cache key."""

    name: str = "en-us"
    words_per_minute: int = 150
    pitch: int = 50
    gap_ms: int = 0


def espeak_binary() -> str:
    """Path to espeak-ng, or a one-line error saying how to install it."""
    path = shutil.which("espeak-ng")
    if path is None:
        raise AudioError(
            "espeak-ng is not installed; run `apt-get install espeak-ng` (or make setup)"
        )
    return path


def cache_key(text: str, voice: Voice) -> str:
    """Content hash of the text and every setting that changes the audio."""
    material = f"{voice.name}|{voice.words_per_minute}|{voice.pitch}|{voice.gap_ms}|{text}"
    return hashlib.sha256(material.encode()).hexdigest()[:24]


def _default_cache_dir() -> Path:
    # VOICEOBS_TTS_CACHE lets CI and tests share renders across isolated data dirs.
    override = os.environ.get("VOICEOBS_TTS_CACHE")
    if override:
        return Path(override)
    from voiceobs.config import data_dir

    return data_dir() / "tts-cache"


def render_speech(
    text: str,
    sample_rate: int = 16000,
    voice: Voice | None = None,
    cache_dir: Path | None = None,
) -> np.ndarray:
    """Render ``text`` to mono float32 samples in [-1, 1] at ``sample_rate``.

    The native 22.05 kHz render is cached on disk; resampling happens on
    every call so one cached file serves every rate.
    """
    if not text.strip():
        raise AudioError("cannot render empty text; give the prompt some words")
    voice = voice or Voice()
    cache = cache_dir or _default_cache_dir()
    path = cache / f"{cache_key(text, voice)}.wav"
    if not path.is_file():
        _render_to(path, text, voice)
    audio, rate = sf.read(path, dtype="float32", always_2d=False)
    if rate != sample_rate:
        from voiceobs.audio.resample import resample

        audio = resample(audio, rate, sample_rate)
    return np.ascontiguousarray(audio, dtype=np.float32)


def _render_to(path: Path, text: str, voice: Voice) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Render beside the target and rename, so concurrent probes never read a half file.
    fd, tmp = tempfile.mkstemp(suffix=".wav", dir=path.parent)
    os.close(fd)
    cmd = [
        espeak_binary(),
        "-v", voice.name,
        "-s", str(voice.words_per_minute),
        "-p", str(voice.pitch),
        "-g", str(voice.gap_ms // 10),
        "-w", tmp,
        "--", text,
    ]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        if proc.returncode != 0 or os.path.getsize(tmp) <= 44:
            raise AudioError(
                f"espeak-ng failed (exit {proc.returncode}): {proc.stderr.strip()[:200]}; "
                f"check the voice name {voice.name!r}"
            )
        os.replace(tmp, path)
    except subprocess.TimeoutExpired as exc:
        raise AudioError("espeak-ng did not finish within 60 s; is the text huge?") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


__all__ = ["ESPEAK_RATE", "Voice", "cache_key", "espeak_binary", "render_speech"]
