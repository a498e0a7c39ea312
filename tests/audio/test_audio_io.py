"""Loading audio files: formats, channels, and what goes wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voiceobs.audio.io import load_audio, save_audio
from voiceobs.errors import AudioError, QualityError


@pytest.mark.parametrize(("suffix", "subtype"), [(".wav", "PCM_16"), (".flac", "PCM_24")])
def test_round_trip_formats(tmp_path: Path, suffix: str, subtype: str) -> None:
    t = np.arange(8000) / 8000
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    path = tmp_path / f"tone{suffix}"
    sf.write(path, tone, 8000, subtype=subtype)
    audio, rate = load_audio(path)
    assert rate == 8000 and audio.dtype == np.float64 and audio.ndim == 1
    np.testing.assert_allclose(audio, tone, atol=1e-4)


def test_save_audio_writes_pcm16(tmp_path: Path) -> None:
    path = tmp_path / "out.wav"
    save_audio(path, np.full(100, 0.25), 16000)
    assert sf.info(str(path)).subtype == "PCM_16"
    audio, _ = load_audio(path)
    np.testing.assert_allclose(audio, 0.25, atol=1e-4)


def test_stereo_refused_or_downmixed(tmp_path: Path) -> None:
    path = tmp_path / "st.wav"
    sf.write(path, np.stack([np.full(800, 0.5), np.full(800, -0.1)], axis=1), 8000)
    with pytest.raises(QualityError) as err:
        load_audio(path)
    assert err.value.reason == "not_mono"
    audio, _ = load_audio(path, downmix=True)
    np.testing.assert_allclose(audio, 0.2, atol=1e-4)


def test_truncated_and_garbage_files_are_unreadable(tmp_path: Path) -> None:
    good = tmp_path / "good.wav"
    sf.write(good, np.zeros(1000), 8000)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(good.read_bytes()[:20])
    with pytest.raises(QualityError) as err:
        load_audio(bad)
    assert err.value.reason == "unreadable"


def test_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="no such file"):
        load_audio(tmp_path / "nope.wav")
    with pytest.raises(AudioError, match="directory"):
        load_audio(tmp_path)
