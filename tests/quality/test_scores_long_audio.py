"""Long audio: scored in bounded pieces up to the limit, in bounded memory, refused past it.

The memory tests run the real command in a child process and read its peak
RSS from the kernel (``wait4``, through ``peak_rss.py``); a watchdog kills
the child well before it could hurt the machine if the bound is badly
broken (as it was: a 2-minute file took 15 GB in DNSMOS).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from pesq import pesq

from tests.quality.helpers import degrade
from voiceobs.errors import QualityError
from voiceobs.quality import find_delay, score, score_batch
from voiceobs.quality._pesq import PESQ_MAX_SECONDS, pesq_score
from voiceobs.quality.checks import MAX_SECONDS
from voiceobs.quality.segments import pesq_pieces

#: The stated bound (README, benchmarks/quality/RESULTS.md): `voiceobs quality`
#: peaks under this for any 16 kHz pair it accepts (up to 30 minutes).
PEAK_RSS_BOUND_MB = 1536
_KILL_ABOVE_MB = 3072


def _long_speech(speech: dict[str, np.ndarray], seconds: float, rate: int = 16000) -> np.ndarray:
    """Prompts one after another with 0.7 s pauses, as a long call would sound."""
    gap = np.zeros(int(0.7 * rate))
    unit = np.concatenate([speech["greeting"], gap, speech["account"], gap, speech["short"], gap])
    n = int(seconds * rate)
    return np.tile(unit, n // unit.shape[0] + 1)[:n]


def _write_pair(tmp_path: Path, ref: np.ndarray, rate: int = 16000) -> tuple[Path, Path]:
    deg = np.concatenate([np.zeros(int(0.12 * rate)), degrade(ref, "snr20", rate)])
    ref_path, deg_path = tmp_path / "long_ref.wav", tmp_path / "long_deg.wav"
    sf.write(ref_path, ref, rate, subtype="PCM_16")
    sf.write(deg_path, np.clip(deg, -1, 1), rate, subtype="PCM_16")
    return ref_path, deg_path


def _run_measured(args: list[str], tmp_path: Path) -> tuple[int, float, str, str, bool]:
    """Run ``voiceobs ARGS``; return (exit code, peak RSS MB, stdout, stderr, killed).

    Spawned through ``peak_rss.py`` so the figure is the command's own (see there).
    """
    out, err, result = tmp_path / "stdout", tmp_path / "stderr", tmp_path / "rss.json"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    launcher = Path(__file__).with_name("peak_rss.py")
    cmd = [sys.executable, "-m", "voiceobs.cli.main", *args]
    with out.open("w") as fo, err.open("w") as fe:
        subprocess.run(
            [sys.executable, str(launcher), str(result), str(_KILL_ABOVE_MB), "--", *cmd],
            stdout=fo,
            stderr=fe,
            env=env,
            check=True,
            timeout=600,
        )
    data = json.loads(result.read_text())
    return data["code"], data["peak_mb"], out.read_text(), err.read_text(), data["killed"]


@pytest.mark.slow
def test_five_minute_file_is_scored_in_bounded_memory(
    speech: dict[str, np.ndarray], tmp_path: Path
) -> None:
    # Five minutes killed the whole process with SIGSEGV inside PESQ.
    ref = _long_speech(speech, 300)
    ref_path, deg_path = _write_pair(tmp_path, ref)
    code, peak_mb, out, err, killed = _run_measured(
        ["quality", str(ref_path), str(deg_path), "--json", "-m", "pesq_wb,pesq_nb,stoi,estoi"],
        tmp_path,
    )
    assert not killed, f"RSS passed {_KILL_ABOVE_MB} MB"
    assert code == 0, err
    data = json.loads(out)
    assert data["errors"] == {}
    assert data["path_delay_ms"] == pytest.approx(120.0, abs=0.1)
    # The same speech and noise all through: close to PESQ over any 12 s stretch of it.
    ref12, _ = sf.read(ref_path, frames=12 * 16000)
    deg12, _ = sf.read(deg_path, frames=12 * 16000, start=int(0.12 * 16000))
    assert data["pesq_wb"] == pytest.approx(pesq(16000, ref12, deg12, "wb"), abs=0.15)
    assert data["pesq_nb"] == pytest.approx(pesq(16000, ref12, deg12, "nb"), abs=0.15)
    assert 0.9 < data["stoi"] <= 1.0 and 0.8 < data["estoi"] <= 1.0
    assert peak_mb < PEAK_RSS_BOUND_MB, f"peak RSS {peak_mb:.0f} MB"


@pytest.mark.slow
def test_dnsmos_on_a_minute_of_audio_stays_in_bounded_memory(
    speech: dict[str, np.ndarray], tmp_path: Path
) -> None:
    # All 52 windows went through the model as one batch: about 7 GB here.
    ref_path, deg_path = _write_pair(tmp_path, _long_speech(speech, 60))
    code, peak_mb, out, err, killed = _run_measured(
        ["quality", str(ref_path), str(deg_path), "--json", "-m", "dnsmos"], tmp_path
    )
    assert not killed, f"RSS passed {_KILL_ABOVE_MB} MB"
    assert code == 0, err
    data = json.loads(out)
    assert 1.0 <= data["dnsmos_ovrl"] <= 5.0 and data["errors"] == {}
    assert peak_mb < PEAK_RSS_BOUND_MB, f"peak RSS {peak_mb:.0f} MB"


def test_pesq_refuses_what_would_overflow_its_utterance_table(
    speech: dict[str, np.ndarray],
) -> None:
    long = _long_speech(speech, PESQ_MAX_SECONDS + 1)
    assert pesq_score(long, long, 16000, "wb") == (None, "too_long")
    fits = long[: int(PESQ_MAX_SECONDS * 16000)]
    value, reason = pesq_score(fits, fits, 16000, "wb")
    assert reason is None and value is not None and value > 4.0


def test_long_pair_pesq_is_the_duration_weighted_mean_of_its_pieces(
    speech: dict[str, np.ndarray],
) -> None:
    ref = _long_speech(speech, 61)
    deg = degrade(ref, "snr10")
    pieces = pesq_pieces(ref, 16000)
    assert len(pieces) == 6
    expected = sum(pesq(16000, ref[a:b], deg[a:b], "wb") * (b - a) for a, b in pieces) / ref.size
    result = score(ref, deg, 16000, ["pesq_wb"])
    assert result.errors == {}
    assert result.pesq_wb == pytest.approx(expected, abs=1e-9)
    # The same through the batch path, its pieces spread over worker processes.
    (batched,) = score_batch([(ref, deg)], 16000, ["pesq_wb"], workers=2)
    assert batched.pesq_wb == result.pesq_wb


def test_a_pair_up_to_the_pesq_limit_is_one_call(speech: dict[str, np.ndarray]) -> None:
    ref = _long_speech(speech, PESQ_MAX_SECONDS)
    deg = degrade(ref, "mulaw")
    assert pesq_pieces(ref, 16000) == [(0, ref.size)]
    assert score(ref, deg, 16000, ["pesq_wb"]).pesq_wb == pesq(16000, ref, deg, "wb")


def test_silent_stretches_of_a_long_call_do_not_count(speech: dict[str, np.ndarray]) -> None:
    talk = _long_speech(speech, 20)
    ref = np.concatenate([talk, np.zeros(30 * 16000), talk])  # half a minute on hold
    deg = degrade(ref, "snr20")
    result = score(ref, deg, 16000, ["pesq_wb"], align=False)
    scored = [
        (v, b - a)
        for a, b in pesq_pieces(ref, 16000)
        if (v := pesq_score(ref[a:b], deg[a:b], 16000, "wb")[0]) is not None
    ]
    assert 0 < len(scored) < len(pesq_pieces(ref, 16000))  # the hold has no score
    expected = sum(v * n for v, n in scored) / sum(n for _, n in scored)
    assert result.pesq_wb == pytest.approx(expected, abs=1e-9)


def test_blocked_alignment_finds_the_delay_of_a_long_pair(speech: dict[str, np.ndarray]) -> None:
    ref = _long_speech(speech, 150)  # 2 x 2.4 M samples: past the single-FFT size
    received = np.concatenate([np.zeros(1234), degrade(ref, "snr10")])
    est = find_delay(ref, received, 16000)
    assert est.shift == 1234
    assert est.correlation > 0.9
    early = received[5000:]
    assert find_delay(ref, early, 16000).shift == 1234 - 5000


@pytest.mark.parametrize("bad", [-5.0, float("nan"), float("inf"), 61.0])
def test_max_delay_must_be_a_usable_range(speech: dict[str, np.ndarray], bad: float) -> None:
    from voiceobs.errors import ConfigError

    ref = speech["short"]
    with pytest.raises(ConfigError, match="max delay"):
        score(ref, ref, 16000, ["stoi"], max_delay_s=bad)
    with pytest.raises(ConfigError, match="max delay"):
        find_delay(ref, ref, 16000, bad)


def test_past_the_limit_is_too_long_before_any_work(speech: dict[str, np.ndarray]) -> None:
    over = np.tile(speech["greeting"], int(MAX_SECONDS * 8000 // speech["greeting"].size) + 2)
    assert over.size > MAX_SECONDS * 8000
    with pytest.raises(QualityError) as err:
        score(speech["greeting"], over, 8000, ["dnsmos"])
    assert err.value.reason == "too_long" and "degraded audio" in str(err.value)
    with pytest.raises(QualityError) as err:
        score(over, speech["greeting"], 8000, ["stoi"])
    assert err.value.reason == "too_long" and "reference audio" in str(err.value)
