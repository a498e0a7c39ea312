"""DNSMOS against speechmos, the package that ships the models."""

from __future__ import annotations

import numpy as np
import pytest

from tests.quality.helpers import degrade
from voiceobs.errors import QualityError
from voiceobs.quality import dnsmos


@pytest.mark.slow
def test_matches_speechmos(speech: dict[str, np.ndarray]) -> None:
    from speechmos import dnsmos as speechmos_dnsmos

    audio = degrade(speech["greeting"], "snr10")
    audio = audio / np.max(np.abs(audio)) * 0.9
    ours = dnsmos(audio, 16000)
    ref = speechmos_dnsmos.run(audio.astype(np.float32), 16000)
    assert ours.ovrl == pytest.approx(float(ref["ovrl_mos"]), abs=1e-3)
    assert ours.sig == pytest.approx(float(ref["sig_mos"]), abs=1e-3)
    assert ours.bak == pytest.approx(float(ref["bak_mos"]), abs=1e-3)


def test_noise_lowers_background_score(speech: dict[str, np.ndarray]) -> None:
    clean = dnsmos(speech["account"], 16000)
    noisy = dnsmos(degrade(speech["account"], "snr0"), 16000)
    assert 1.0 <= noisy.bak < clean.bak <= 5.0


@pytest.mark.parametrize(
    ("audio", "rate", "reason"),
    [
        (np.zeros(0), 16000, "too_short"),
        (np.zeros(32000), 16000, "no_speech"),
        (np.ones(32000) * 0.1, 8000, "unsupported_rate"),
    ],
)
def test_guards_the_inputs_speechmos_hangs_or_fails_on(
    audio: np.ndarray, rate: int, reason: str
) -> None:
    with pytest.raises(QualityError) as err:
        dnsmos(audio, rate)
    assert err.value.reason == reason


def test_out_of_range_samples_are_clipped_not_refused(speech: dict[str, np.ndarray]) -> None:
    loud = speech["greeting"] * 4.0
    assert np.abs(loud).max() > 1.0
    scores = dnsmos(loud, 16000)
    assert 1.0 <= scores.ovrl <= 5.0


@pytest.mark.slow
def test_clip_of_many_windows_matches_speechmos(speech: dict[str, np.ndarray]) -> None:
    from speechmos import dnsmos as speechmos_dnsmos

    audio = np.concatenate([speech["greeting"], speech["account"]] * 2)
    audio = degrade(audio, "snr20")
    audio = audio / np.max(np.abs(audio)) * 0.9
    assert audio.size > 13 * 16000  # five 9.01 s windows, each run on its own
    ours = dnsmos(audio, 16000)
    ref = speechmos_dnsmos.run(audio.astype(np.float32), 16000)
    assert ours.ovrl == pytest.approx(float(ref["ovrl_mos"]), abs=1e-3)
    assert ours.sig == pytest.approx(float(ref["sig_mos"]), abs=1e-3)
    assert ours.bak == pytest.approx(float(ref["bak_mos"]), abs=1e-3)


def test_past_the_limit_is_refused_before_the_model_runs() -> None:
    from voiceobs.quality.checks import MAX_SECONDS

    over = np.full(int((MAX_SECONDS + 1) * 16000), 0.1, dtype=np.float32)
    with pytest.raises(QualityError) as err:
        dnsmos(over, 16000)
    assert err.value.reason == "too_long"
