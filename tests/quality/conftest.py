"""Real speech for quality tests: espeak-ng renders, degraded the ways calls degrade."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from voiceobs.audio.tts import render_speech

PROMPTS = {
    "greeting": "Hello, thank you for calling. How can I help you today?",
    "account": "Please say your account number, then press the pound key.",
    "short": "Yes, that is right.",
}


@pytest.fixture(scope="session")
def tts_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("quality-tts")


@pytest.fixture(scope="session")
def speech(tts_cache: Path) -> dict[str, np.ndarray]:
    """Each prompt at 16 kHz, float64, rendered once per test session."""
    return {
        name: render_speech(text, 16000, cache_dir=tts_cache).astype(np.float64)
        for name, text in PROMPTS.items()
    }


@pytest.fixture(scope="session")
def render(tts_cache: Path) -> Callable[[str, int], np.ndarray]:
    def _render(name: str, rate: int) -> np.ndarray:
        return render_speech(PROMPTS[name], rate, cache_dir=tts_cache).astype(np.float64)

    return _render
