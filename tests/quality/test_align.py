"""Delay alignment: found to below a sample, and scores do not move with the delay."""

from __future__ import annotations

import numpy as np
import pytest

from tests.quality.helpers import degrade
from voiceobs.errors import QualityError
from voiceobs.quality import find_delay, score

METRICS = ["pesq_wb", "pesq_nb", "stoi", "estoi", "dnsmos"]
FIELDS = ("pesq_wb", "pesq_nb", "stoi", "estoi", "dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak")


@pytest.fixture(scope="module")
def unshifted(speech: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    ref = speech["greeting"]
    deg = degrade(ref, "snr20")
    base = score(ref, deg, 16000, METRICS)
    assert base.errors == {}
    return ref, deg, {f: getattr(base, f) for f in FIELDS}


@pytest.mark.parametrize("delay_ms", [0, 13, 250, 777, 1500])
def test_shifted_copy_scores_the_same(
    unshifted: tuple[np.ndarray, np.ndarray, dict[str, float]], delay_ms: int
) -> None:
    ref, deg, base = unshifted
    pad = int(delay_ms * 16)
    received = np.concatenate([np.zeros(pad), deg, np.zeros(1600)])
    result = score(ref, received, 16000, METRICS)
    assert result.path_delay_ms == pytest.approx(delay_ms, abs=0.1)
    for f in FIELDS:
        assert getattr(result, f) == pytest.approx(base[f], abs=0.02), f


@pytest.mark.parametrize("delay", [37.25, 812.5, -120.75])
def test_fractional_delay_found_to_a_fraction_of_a_sample(
    speech: dict[str, np.ndarray], delay: float
) -> None:
    ref = np.concatenate([np.zeros(4000), speech["account"], np.zeros(4000)])
    n = ref.shape[0]
    # Delay by a fractional number of samples exactly, via a linear phase ramp.
    freqs = np.fft.rfftfreq(n)
    received = np.fft.irfft(np.fft.rfft(ref) * np.exp(-2j * np.pi * freqs * delay), n)
    est = find_delay(ref, received, 16000)
    assert est.delay_samples == pytest.approx(delay, abs=0.25)
    assert est.delay_ms == pytest.approx(delay / 16, abs=0.02)
    assert est.correlation > 0.95


def test_searches_two_seconds_each_way(speech: dict[str, np.ndarray]) -> None:
    ref = speech["short"]
    late = np.concatenate([np.zeros(32000 - 160), ref])
    assert find_delay(ref, late, 16000).shift == 32000 - 160
    early = ref[16000:]
    assert find_delay(ref, early, 16000).shift == -16000


def test_silence_cannot_be_aligned(speech: dict[str, np.ndarray]) -> None:
    with pytest.raises(QualityError) as err:
        find_delay(speech["short"], np.zeros(16000), 16000)
    assert err.value.reason == "no_speech"
