"""The espeak-ng speech engine: formant synthesis, any language, fully deterministic.

espeak-ng writes its WAV to a pipe here, never to a file: on a nearly full
disk it wrote a partial file, fixed up the header to match and exited 0,
so nothing downstream could tell. From a pipe the whole render arrives in
memory, and only the render cache writes files (atomically, with a disk-full
error that says so).
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from typing import TYPE_CHECKING

import numpy as np

from voiceobs.errors import AudioError

if TYPE_CHECKING:
    from voiceobs.audio.voice import Voice

#: espeak-ng's native output rate.
ESPEAK_RATE = 22050


def espeak_binary() -> str:
    """Path to espeak-ng, or a one-line error saying how to install it."""
    path = shutil.which("espeak-ng")
    if path is None:
        raise AudioError(
            "espeak-ng is not installed; run `apt-get install espeak-ng` (or make setup)"
        )
    return path


@functools.cache
def _version() -> str:
    try:
        out = subprocess.run(
            [espeak_binary(), "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (AudioError, OSError, subprocess.TimeoutExpired):
        return "unavailable"
    return " ".join(out.split()[:5]) or "unknown"


def _pcm_from_stream(blob: bytes) -> np.ndarray:
    """Samples of the WAV espeak-ng streams (its header sizes are placeholders there)."""
    at = blob.find(b"data", 12)
    if blob[:4] != b"RIFF" or at < 0 or len(blob) < at + 8:
        raise AudioError("espeak-ng wrote no WAV data; is the installation broken?")
    data = blob[at + 8 :]
    return np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").copy()


@functools.lru_cache(maxsize=64)
def _has_voice(name: str) -> bool:
    """Whether espeak-ng knows ``name`` (variants like ``en-gb+f3`` included); ~20 ms, once.

    Asked at spec load and ``serve`` start, so a typo is refused before any call;
    without espeak-ng installed the render says how to install it instead.
    """
    if name.startswith("-"):
        return False
    try:
        proc = subprocess.run(
            [espeak_binary(), "-q", "-v", name, "--", "a"],
            capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip
    except (AudioError, OSError, subprocess.TimeoutExpired):
        return True
    return not (proc.returncode != 0 and "voice does not exist" in proc.stderr)


def _no_voice(name: str) -> AudioError:
    return AudioError(f"espeak-ng has no voice {name!r}; list them with `espeak-ng --voices`")


class EspeakEngine:
    """Runs espeak-ng once per render; stateless, so safe on any thread."""

    name = "espeak"
    native_rate = ESPEAK_RATE
    default_words_per_minute = 150

    def version(self) -> str:
        """The installed espeak-ng release (a new release may change the audio)."""
        return _version()

    def check(self, voice: Voice) -> None:
        """Refuse a rate espeak-ng cannot use and a voice it does not have."""
        if not 1 <= voice.words_per_minute <= 1000:
            raise AudioError(
                f"espeak-ng speaks at 1-1000 words per minute; got {voice.words_per_minute}"
            )
        if not _has_voice(voice.name):
            raise _no_voice(voice.name)

    def synthesize(self, text: str, voice: Voice) -> np.ndarray:
        """int16 samples at :data:`ESPEAK_RATE`."""
        cmd = [
            espeak_binary(),
            "-v", voice.name,
            "-s", str(voice.words_per_minute),
            "-p", str(voice.pitch),
            "-g", str(voice.gap_ms // 10),
            "--stdout",
            "--", text,
        ]  # fmt: skip
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=60, check=False)
        except subprocess.TimeoutExpired as exc:
            raise AudioError("espeak-ng did not finish within 60 s; is the text huge?") from exc
        stderr = proc.stderr.decode("utf-8", "replace").strip()
        if proc.returncode != 0:
            if "voice does not exist" in stderr:
                raise _no_voice(voice.name)
            detail = stderr.splitlines()[0][:200] if stderr else "no message"
            raise AudioError(f"espeak-ng failed (exit {proc.returncode}): {detail}")
        return _pcm_from_stream(proc.stdout)


__all__ = ["ESPEAK_RATE", "EspeakEngine", "espeak_binary"]
