"""Who speaks and how (``Voice``), and what a speech engine must offer (``SpeechEngine``).

Kept apart from the renderer (``voiceobs.audio.tts``) so the engines it
registers can name these types without importing the renderer back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Voice:
    """Who speaks and how; every field is part of the cache key.

    ``pitch`` and ``gap_ms`` are espeak-ng settings (hibari has no such knobs).
    """

    name: str = "en-us"
    words_per_minute: int = 150
    pitch: int = 50
    gap_ms: int = 0
    engine: str = "espeak"


class SpeechEngine(Protocol):
    """What a TTS engine offers the renderer; register one with :func:`register_engine`."""

    name: str
    native_rate: int
    default_words_per_minute: int

    def version(self) -> str:
        """Changes whenever the same settings would give different audio (part of the key)."""

    def check(self, voice: Voice) -> None:
        """Raise :class:`AudioError` for a voice this engine cannot speak."""

    def synthesize(self, text: str, voice: Voice) -> np.ndarray:
        """int16 mono samples at :attr:`native_rate`."""


__all__ = ["SpeechEngine", "Voice"]
