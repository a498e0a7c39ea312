"""Resampling keeps speech-band content and removes what the new rate cannot hold."""

from __future__ import annotations

import numpy as np
import pytest

from voiceobs.audio.resample import resample


def _tone(freq: float, rate: int, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return np.sin(2 * np.pi * freq * t).astype(np.float32)


@pytest.mark.parametrize(("orig", "new"), [(48000, 16000), (8000, 16000), (22050, 16000)])
def test_in_band_tone_survives(orig: int, new: int) -> None:
    out = resample(_tone(1000, orig), orig, new)
    assert out.dtype == np.float32
    assert abs(out.shape[0] - new) <= 1
    mid = out[new // 10 : -new // 10]
    assert np.sqrt(np.mean(mid**2)) == pytest.approx(1 / np.sqrt(2), rel=0.01)


def test_out_of_band_tone_is_removed() -> None:
    out = resample(_tone(6000, 48000), 48000, 8000)  # above the 4 kHz Nyquist
    assert np.sqrt(np.mean(out[800:-800] ** 2)) < 0.01


def test_same_rate_is_identity() -> None:
    x = _tone(300, 16000)
    np.testing.assert_array_equal(resample(x, 16000, 16000), x)
