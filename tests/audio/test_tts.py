"""espeak-ng rendering: deterministic, cached, at any rate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voiceobs.audio.tts import Voice, cache_key, render_speech
from voiceobs.errors import AudioError


def test_render_is_cached_and_deterministic(tmp_path: Path) -> None:
    a = render_speech("Testing one two three.", 16000, cache_dir=tmp_path)
    files = list(tmp_path.glob("*.wav"))
    assert len(files) == 1 and files[0].stem == cache_key("Testing one two three.", Voice())
    b = render_speech("Testing one two three.", 16000, cache_dir=tmp_path)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and 0.01 < np.abs(a).max() <= 1.0
    assert 0.5 < a.shape[0] / 16000 < 5.0


def test_rate_changes_length_not_content(tmp_path: Path) -> None:
    a16 = render_speech("Hello there.", 16000, cache_dir=tmp_path)
    a8 = render_speech("Hello there.", 8000, cache_dir=tmp_path)
    assert abs(a16.shape[0] - 2 * a8.shape[0]) <= 2


def test_empty_text_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="empty text"):
        render_speech("   ", 16000, cache_dir=tmp_path)
