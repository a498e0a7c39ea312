"""The bad-input table: every case is an error with a reason or a None with a reason, never NaN."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from pystoi import stoi as pystoi

from tests.quality.helpers import degrade
from voiceobs.audio.io import load_audio
from voiceobs.errors import AudioError, QualityError
from voiceobs.quality import QualityScores, score, score_batch
from voiceobs.quality._pesq import pesq_score

ALL = ["pesq_wb", "pesq_nb", "stoi", "estoi", "dnsmos"]


def _no_nan(result: QualityScores) -> None:
    for key, value in result.as_dict().items():
        if isinstance(value, float):
            assert math.isfinite(value), key


def _reason(exc: pytest.ExceptionInfo[QualityError]) -> str:
    return exc.value.reason


def test_all_zero_degraded_is_no_speech(speech: dict[str, np.ndarray]) -> None:
    ref = speech["greeting"]
    with pytest.raises(QualityError) as err:
        score(ref, np.zeros_like(ref), 16000, ALL)
    assert _reason(err) == "no_speech"


def test_silent_reference_is_no_speech(speech: dict[str, np.ndarray]) -> None:
    ref = speech["greeting"]
    quiet = np.random.default_rng(1).standard_normal(ref.shape[0]) * 1e-6  # -120 dBFS hiss
    with pytest.raises(QualityError) as err:
        score(quiet, ref, 16000, ["stoi"])
    assert _reason(err) == "no_speech"


def test_too_short_for_any_metric(speech: dict[str, np.ndarray]) -> None:
    clip = speech["greeting"][8000:9600]  # 0.1 s
    with pytest.raises(QualityError) as err:
        score(clip, clip, 16000, ALL)
    assert _reason(err) == "too_short"


def test_too_short_for_stoi_only_is_a_none_with_reason(speech: dict[str, np.ndarray]) -> None:
    clip = speech["greeting"][8000:14000]  # 0.375 s: enough to align, not enough for STOI
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert pystoi(clip, clip, 16000) == 1e-5  # what the reference quietly returns
    assert any("Not enough STFT frames" in str(w.message) for w in caught)
    result = score(clip, clip, 16000, ["pesq_wb", "stoi", "estoi"])
    assert result.stoi is None and result.errors["stoi"] == "too_short"
    assert result.estoi is None and result.errors["estoi"] == "too_short"
    # PESQ finds no utterance of its own minimum length in 0.375 s: classified, not raised.
    assert result.pesq_wb is None and result.errors["pesq_wb"] == "no_speech"
    _no_nan(result)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_samples_are_invalid(speech: dict[str, np.ndarray], bad: float) -> None:
    deg = speech["greeting"].copy()
    deg[1234] = bad
    with pytest.raises(QualityError) as err:
        score(speech["greeting"], deg, 16000, ALL)
    assert _reason(err) == "invalid_samples"


def test_pesq_guard_classifies_nan_instead_of_raising(speech: dict[str, np.ndarray]) -> None:
    ref = speech["greeting"]
    deg = ref.copy()
    deg[100] = np.nan
    assert pesq_score(ref, deg, 16000, "wb") == (None, "invalid_samples")


def test_clipped_audio_is_scored_and_flagged(speech: dict[str, np.ndarray]) -> None:
    ref = speech["greeting"]
    clipped = np.clip(ref * 8.0, -1.0, 1.0)
    result = score(ref, clipped, 16000, ALL)
    assert "clipped" in result.warnings
    assert result.errors == {}
    assert result.pesq_wb is not None and result.dnsmos_ovrl is not None
    _no_nan(result)
    clean = score(ref, ref, 16000, ["pesq_wb"])
    assert clean.warnings == []
    assert result.pesq_wb < clean.pesq_wb  # type: ignore[operator]


def test_stereo_array_is_not_mono(speech: dict[str, np.ndarray]) -> None:
    ref = speech["greeting"]
    stereo = np.stack([ref, ref], axis=1)
    with pytest.raises(QualityError) as err:
        score(ref, stereo, 16000, ALL)
    assert _reason(err) == "not_mono"
    # A single-channel 2-D array is mono.
    assert score(ref, ref[None, :], 16000, ["stoi"]).stoi == pytest.approx(1.0, abs=1e-6)


def test_stereo_file_is_refused_unless_downmixed(
    speech: dict[str, np.ndarray], tmp_path: Path
) -> None:
    path = tmp_path / "stereo.wav"
    ref = speech["short"]
    sf.write(path, np.stack([ref, 0.5 * ref], axis=1), 16000)
    with pytest.raises(QualityError) as err:
        load_audio(path)
    assert _reason(err) == "not_mono"
    mono, rate = load_audio(path, downmix=True)
    assert rate == 16000
    np.testing.assert_allclose(mono, 0.75 * ref, atol=1e-4)


def test_unsupported_rate_is_refused_without_usage_text(
    speech: dict[str, np.ndarray], capfd: pytest.CaptureFixture[str]
) -> None:
    ref = speech["greeting"]
    with pytest.raises(QualityError) as err:
        score(ref, ref, 11025, ALL)
    assert _reason(err) == "unsupported_rate"
    assert pesq_score(ref, ref, 11025, "wb") == (None, "unsupported_rate")
    out = capfd.readouterr()
    assert "Sample rate" not in out.out and out.out == ""


def test_pesq_c_messages_never_reach_stdout(
    speech: dict[str, np.ndarray], capfd: pytest.CaptureFixture[str]
) -> None:
    short = speech["greeting"][:2000]  # under PESQ's quarter-second buffer
    assert pesq_score(short, short, 16000, "wb") == (None, "too_short")
    assert capfd.readouterr().out == ""


def test_corrupt_file_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.wav"
    path.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage that is not audio" * 3)
    with pytest.raises(QualityError) as err:
        load_audio(path)
    assert _reason(err) == "unreadable"


def test_missing_file_is_an_audio_error(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="no such file"):
        load_audio(tmp_path / "missing.wav")


def test_torch_input_is_accepted(speech: dict[str, np.ndarray]) -> None:
    ref = torch.tensor(speech["greeting"], dtype=torch.float32)
    deg = torch.tensor(degrade(speech["greeting"], "snr10"), dtype=torch.float32)
    result = score(ref, deg, 16000, ["stoi"])
    assert result.stoi is not None and 0.5 < result.stoi < 1.0


def test_batch_records_bad_pairs_instead_of_raising(speech: dict[str, np.ndarray]) -> None:
    ref = speech["greeting"]
    nan = ref.copy()
    nan[5] = np.nan
    results = score_batch(
        [(ref, degrade(ref, "snr10")), (ref, np.zeros_like(ref)), (ref, nan)], 16000, ["stoi"]
    )
    assert results[0].stoi is not None
    assert results[1].errors == {"stoi": "no_speech"}
    assert results[2].errors == {"stoi": "invalid_samples"}
    for r in results:
        _no_nan(r)
