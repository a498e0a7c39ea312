"""score() against the pesq and pystoi packages on aligned real speech."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from pesq import pesq
from pystoi import stoi as pystoi

from tests.quality.helpers import degrade
from voiceobs.audio.resample import resample
from voiceobs.quality import score

CONDITIONS = ("snr0", "snr10", "snr20", "mulaw", "loss10")


@pytest.mark.parametrize("condition", CONDITIONS)
def test_scores_equal_the_reference_packages(speech: dict[str, np.ndarray], condition: str) -> None:
    ref = speech["greeting"]
    deg = degrade(ref, condition)
    result = score(ref, deg, 16000, ["pesq_wb", "pesq_nb", "stoi", "estoi"])
    assert result.errors == {}
    assert result.path_delay_ms is not None and abs(result.path_delay_ms) < 0.1
    assert result.pesq_wb == pytest.approx(pesq(16000, ref, deg, "wb"), abs=1e-6)
    r8 = resample(ref, 16000, 8000).astype(np.float64)
    d8 = resample(deg, 16000, 8000).astype(np.float64)
    assert result.pesq_nb == pytest.approx(pesq(8000, r8, d8, "nb"), abs=1e-6)
    np.random.seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert result.stoi == pytest.approx(pystoi(ref, deg, 16000), abs=1e-4)
        assert result.estoi == pytest.approx(pystoi(ref, deg, 16000, extended=True), abs=1e-4)


def test_worse_conditions_score_lower(speech: dict[str, np.ndarray]) -> None:
    ref = speech["account"]
    s0 = score(ref, degrade(ref, "snr0"), 16000, ["pesq_wb", "stoi"])
    s20 = score(ref, degrade(ref, "snr20"), 16000, ["pesq_wb", "stoi"])
    assert s0.pesq_wb is not None and s20.pesq_wb is not None
    assert s0.pesq_wb < s20.pesq_wb
    assert s0.stoi is not None and s20.stoi is not None
    assert s0.stoi < s20.stoi


def test_batch_equals_one_at_a_time(speech: dict[str, np.ndarray]) -> None:
    from voiceobs.quality import score_batch

    ref = speech["greeting"]
    pairs = [(ref, degrade(ref, c)) for c in ("snr10", "mulaw", "loss10")]
    batch = score_batch(pairs, 16000, ["pesq_wb", "stoi", "estoi"], workers=2)
    for (r, d), got in zip(pairs, batch, strict=True):
        one = score(r, d, 16000, ["pesq_wb", "stoi", "estoi"])
        assert got.pesq_wb == one.pesq_wb
        assert got.stoi == pytest.approx(one.stoi, abs=1e-6)
        assert got.estoi == pytest.approx(one.estoi, abs=1e-6)


def test_other_rates_are_resampled_for_each_metric(render) -> None:  # type: ignore[no-untyped-def]
    ref = render("greeting", 48000)
    deg = degrade(ref, "snr20", 48000)
    result = score(ref, deg, 48000, ["pesq_wb", "pesq_nb", "stoi"])
    assert result.errors == {}
    r16 = resample(ref, 48000, 16000).astype(np.float64)
    d16 = resample(deg, 48000, 16000).astype(np.float64)
    assert result.pesq_wb == pytest.approx(pesq(16000, r16, d16, "wb"), abs=1e-6)
    assert result.stoi == pytest.approx(pystoi(ref, deg, 48000), abs=1e-4)
