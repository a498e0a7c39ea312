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


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples_are_refused_naming_the_file(tmp_path: Path, bad: float) -> None:
    path = tmp_path / "broken.wav"
    audio = np.full(4000, 0.1)
    audio[[10, 2000]] = bad
    sf.write(path, audio, 8000, subtype="FLOAT")
    with pytest.raises(QualityError) as err:
        load_audio(path)
    assert err.value.reason == "invalid_samples"
    assert str(path) in str(err.value) and "2 NaN or infinite" in str(err.value)
    assert "\n" not in str(err.value)


def test_non_finite_samples_in_one_channel_are_refused_when_downmixing(tmp_path: Path) -> None:
    path = tmp_path / "st.wav"
    audio = np.full((4000, 2), 0.1)
    audio[5, 1] = np.nan
    sf.write(path, audio, 8000, subtype="DOUBLE")
    with pytest.raises(QualityError) as err:
        load_audio(path, downmix=True)
    assert err.value.reason == "invalid_samples" and str(path) in str(err.value)


def test_long_file_is_refused_from_its_header(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    sf.write(path, np.full(16000, 0.1), 8000)  # 2 s
    with pytest.raises(QualityError) as err:
        load_audio(path, max_seconds=1.5)
    assert err.value.reason == "too_long" and str(path) in str(err.value)
    audio, rate = load_audio(path, max_seconds=2.0)
    assert rate == 8000 and audio.shape == (16000,)


def test_many_blocks_read_the_same_as_one(tmp_path: Path) -> None:
    # Longer than one read block, stereo: downmixed block by block.
    rng = np.random.default_rng(2)
    data = rng.uniform(-0.5, 0.5, size=(700_001, 2))
    path = tmp_path / "blocks.flac"
    sf.write(path, data, 48000, subtype="PCM_24")
    whole, _ = sf.read(path, dtype="float64", always_2d=True)
    audio, rate = load_audio(path, downmix=True)
    assert rate == 48000
    np.testing.assert_array_equal(audio, whole.mean(axis=1))


@pytest.mark.parametrize(
    ("subtype", "dtype"),
    [
        ("PCM_16", np.float32),
        ("PCM_24", np.float32),
        ("FLOAT", np.float32),
        ("PCM_32", np.float64),
        ("DOUBLE", np.float64),
    ],
)
def test_compact_is_float32_only_where_that_loses_nothing(
    tmp_path: Path, subtype: str, dtype: type
) -> None:
    rng = np.random.default_rng(6)
    path = tmp_path / f"c_{subtype}.wav"
    sf.write(path, rng.uniform(-0.9, 0.9, 5000), 16000, subtype=subtype)
    wide, _ = load_audio(path)
    compact, _ = load_audio(path, compact=True)
    assert wide.dtype == np.float64 and compact.dtype == dtype
    np.testing.assert_array_equal(compact.astype(np.float64), wide)
