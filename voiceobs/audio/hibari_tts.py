"""The hibari speech engine: the small neural voice bundled in the ``hibari-tts`` wheel.

espeak-ng's formant speech is hard on speech recognisers: pocketsphinx's
default model hears "color me i did go to play it again" for "Your account
balance is one hundred and twenty dollars" once the reply has crossed an
8 kHz telephone line, so WER and keyword checks fail on a healthy agent.
hibari's neural voice is recognised far better (benchmarks/pipelines/
RESULTS.md has the figures) and runs on numpy and onnxruntime, on the CPU,
much faster than real time.

Only voices shipped inside the wheel are used: hibari fetches its other
voices from the network on first use, and a monitoring tool must never
download weights at run time, so those are refused before hibari is asked.
The noise component is seeded, so a text and its settings always give the
same samples (the render cache and golden replies rely on that).
"""

from __future__ import annotations

import functools
import importlib.metadata
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from voiceobs.errors import AudioError

if TYPE_CHECKING:
    from voiceobs.audio.voice import Voice

#: hibari's output rate.
HIBARI_RATE = 24000
#: The default (and only bundled) voice: American English, female.
DEFAULT_VOICE = "heart"
#: hibari's own pace at ``speed=1.0``, measured on the agent's replies and phrases
#: (about 200 words a minute without the silence at the edges); a voice's
#: ``words_per_minute`` maps to hibari's relative speed through it.
NATIVE_WORDS_PER_MINUTE = 200
#: hibari's speed range (0.5 to 2.0 of its own pace), in words per minute.
MIN_WPM, MAX_WPM = 100, 400
#: Rate used when a voice gives none: speed 0.9, measured to be the clearest to
#: pocketsphinx of 150-200 words a minute (benchmarks/pipelines/RESULTS.md).
DEFAULT_WORDS_PER_MINUTE = 180
#: Seed of the noise component (fixed: renders must be reproducible).
SEED = 0
#: hibari starts and ends each render with about 0.3 s and 0.45 s of silence; a
#: caller would hear the leading part as latency, so the edges are cut to these.
LEAD_S, TAIL_S = 0.05, 0.15
_SILENT = 1e-3  # -60 dBFS: below any speech onset, above hibari's near-zero edges


def bundled_voices() -> tuple[str, ...]:
    """Voices inside the installed wheel (empty if hibari-tts is not installed)."""
    try:
        from hibari.voices import VOICES
    except ImportError:
        return ()
    return tuple(name for name, v in VOICES.items() if v.get("bundled"))


def check_voice_name(name: str) -> None:
    """Refuse a voice that is unknown or would be downloaded; the message says what to use."""
    try:
        from hibari.voices import VOICES
    except ImportError:
        raise AudioError(
            "the hibari voice needs the hibari-tts package; pip install hibari-tts"
        ) from None
    bundled = ", ".join(bundled_voices()) or "none"
    if name not in VOICES:
        raise AudioError(f"unknown hibari voice {name!r}; the package ships: {bundled}")
    if not VOICES[name].get("bundled"):
        raise AudioError(
            f"hibari voice {name!r} is not in the package (hibari would download it); "
            f"voiceobs uses only the bundled voice(s): {bundled}"
        )


@functools.cache
def _version() -> str:
    try:
        return importlib.metadata.version("hibari-tts")
    except importlib.metadata.PackageNotFoundError:
        return "unavailable"


def trim_edges(audio: np.ndarray, rate: int) -> np.ndarray:
    """Cut leading and trailing silence down to :data:`LEAD_S` and :data:`TAIL_S`."""
    loud = np.flatnonzero(np.abs(audio) >= _SILENT)
    if loud.size == 0:
        return audio[:0]
    start = max(0, int(loud[0]) - int(LEAD_S * rate))
    end = min(audio.size, int(loud[-1]) + 1 + int(TAIL_S * rate))
    return audio[start:end]


class HibariEngine:
    """One model per process, loaded on first use; renders are serialised by a lock."""

    name = "hibari"
    native_rate = HIBARI_RATE
    default_words_per_minute = DEFAULT_WORDS_PER_MINUTE

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tts: dict[str, Any] = {}

    def version(self) -> str:
        """The wheel's release plus this module's processing (seed, edge trim)."""
        return f"{_version()} seed={SEED} trim={LEAD_S}/{TAIL_S}"

    def check(self, voice: Voice) -> None:
        """Only bundled voices, and only the speeds hibari supports."""
        check_voice_name(voice.name)
        if not MIN_WPM <= voice.words_per_minute <= MAX_WPM:
            raise AudioError(
                f"hibari speaks at {MIN_WPM}-{MAX_WPM} words per minute; "
                f"got {voice.words_per_minute}"
            )

    def _model(self, name: str) -> Any:
        tts = self._tts.get(name)
        if tts is None:
            from hibari import Hibari
            from hibari.voices import voice_path

            # download_missing=False: check() already refused such voices; this makes
            # sure no code path can ever fetch weights.
            tts = Hibari(voice=name, model=voice_path(name, download_missing=False), threads=1)
            self._tts[name] = tts
        return tts

    def synthesize(self, text: str, voice: Voice) -> np.ndarray:
        """int16 samples at :data:`HIBARI_RATE`."""
        self.check(voice)
        speed = voice.words_per_minute / NATIVE_WORDS_PER_MINUTE
        with self._lock:
            try:
                audio = self._model(voice.name)(text, speed=speed, seed=SEED)
            except Exception as exc:  # the model or its G2P; keep it to one line
                raise AudioError(f"hibari could not render {text[:60]!r}: {exc}") from None
        audio = trim_edges(np.asarray(audio, dtype=np.float32), HIBARI_RATE)
        return np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)


__all__ = [
    "DEFAULT_VOICE",
    "DEFAULT_WORDS_PER_MINUTE",
    "HIBARI_RATE",
    "NATIVE_WORDS_PER_MINUTE",
    "HibariEngine",
    "bundled_voices",
    "check_voice_name",
    "trim_edges",
]
