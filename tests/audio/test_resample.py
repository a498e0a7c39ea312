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


@pytest.mark.parametrize(
    ("orig", "new"), [(16000, 8000), (48000, 16000), (8000, 16000), (44100, 16000)]
)
def test_blocks_join_into_the_one_call_result(orig: int, new: int) -> None:
    from voiceobs.audio.resample import _blocks, _one_call

    x = (np.random.default_rng(4).standard_normal(123_457) * 0.1).astype(np.float32)
    whole = _one_call(x, orig, new)
    pieced = _blocks(x, orig, new, 10_007)
    assert pieced.shape == whole.shape
    np.testing.assert_allclose(pieced, whole, atol=1e-6, rtol=0)


def test_long_input_is_converted_in_blocks_with_the_same_result() -> None:
    from voiceobs.audio.resample import _ONE_CALL_SAMPLES, _one_call

    x = _tone(440, 16000, seconds=(_ONE_CALL_SAMPLES + 5000) / 16000)
    assert x.shape[0] > _ONE_CALL_SAMPLES
    out = resample(x, 16000, 8000)
    np.testing.assert_allclose(out, _one_call(x, 16000, 8000), atol=1e-6, rtol=0)
