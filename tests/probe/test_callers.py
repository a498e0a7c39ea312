"""Hard callers: noise at a set SNR (measured independently), level, rate, line codec and loss."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tests.helpers import ServerProcess, make_spec
from voiceobs.audio.tts import Voice, render_speech
from voiceobs.probe.callers import apply_caller, make_noise
from voiceobs.probe.prompts import load_prompt
from voiceobs.probe.runner import run_spec_async
from voiceobs.probe.spec import Caller

TEXT = "I would like to book an appointment for tomorrow morning."


def _independent_snr_db(clean: np.ndarray, sent: np.ndarray, rate: int) -> float:
    """SNR by another route: speech where its 10 ms envelope is within 35 dB of its peak."""
    n = rate // 100
    usable = min(len(clean), len(sent)) // n * n
    c = clean[:usable].astype(np.float64).reshape(-1, n)
    noise = (sent[:usable].astype(np.float64) - clean[:usable].astype(np.float64)).reshape(-1, n)
    env = np.sqrt(np.mean(c**2, axis=1))
    active = env > env.max() * 10 ** (-35 / 20)
    return float(10 * np.log10(np.mean(c[active] ** 2) / np.mean(noise**2)))


@pytest.mark.parametrize("snr", [20.0, 10.0, 5.0])
@pytest.mark.parametrize("noise", ["white", "pink", "brown"])
def test_noise_is_at_the_asked_snr_measured_independently(snr: float, noise: str) -> None:
    clean = render_speech(TEXT, 16000, Voice())
    prompt = load_prompt(text=TEXT, sample_rate=16000, protocol="pcm", caller=Caller(snr_db=snr, noise=noise))  # type: ignore[arg-type]
    sent = prompt.audio
    padded = np.concatenate([clean, np.zeros(len(sent) - len(clean), np.float32)])
    # int16 quantisation on the wire is far below any noise asked for here.
    assert abs(_independent_snr_db(padded, sent, 16000) - snr) < 0.5
    assert prompt.snr_db is not None and abs(prompt.snr_db - snr) < 0.5


def test_noise_is_seeded_and_shaped() -> None:
    a, b, c = make_noise("pink", 8000, 3), make_noise("pink", 8000, 3), make_noise("pink", 8000, 4)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert abs(float(np.mean(a**2)) - 1.0) < 1e-9
    # Pink noise has more power below 500 Hz than white noise of equal power.
    def low(x: np.ndarray) -> float:
        spec = np.abs(np.fft.rfft(x)) ** 2
        return float(spec[: len(spec) * 500 // 4000].sum() / spec.sum())

    assert low(a) > 2 * low(make_noise("white", 8000, 3))


def test_level_rate_codec_and_loss_change_what_is_sent() -> None:
    clean = render_speech(TEXT, 8000, Voice())
    quiet = apply_caller(clean, 8000, Caller(level_db=-20))
    ratio = 20 * np.log10(np.sqrt(np.mean(quiet**2)) / np.sqrt(np.mean(clean**2)))
    assert abs(ratio + 20.0) < 0.1
    fast = load_prompt(text=TEXT, sample_rate=8000, protocol="twilio", caller=Caller(words_per_minute=250))
    normal = load_prompt(text=TEXT, sample_rate=8000, protocol="twilio")
    assert fast.n_frames < normal.n_frames * 0.8
    lossy = apply_caller(clean, 8000, Caller(codec="alaw", loss="random", loss_rate=0.3, seed=1))
    again = apply_caller(clean, 8000, Caller(codec="alaw", loss="random", loss_rate=0.3, seed=1))
    assert np.array_equal(lossy, again)
    frames = len(clean) // 160
    changed = sum(
        not np.allclose(lossy[i * 160 : (i + 1) * 160], clean[i * 160 : (i + 1) * 160], atol=0.02)
        for i in range(frames)
    )
    assert changed > frames * 0.15  # lost frames are concealed, not passed through


@pytest.mark.slow
def test_a_sweep_runs_each_snr_and_every_result_carries_its_condition(echo_server: ServerProcess) -> None:
    spec = make_spec(echo_server.url("twilio"), sweep={"snr_db": [20, 10, 5]}, caller={"noise": "white", "seed": 7})
    results = asyncio.run(run_spec_async(spec))
    assert len(results) == 3 and all(r.ok for r in results)
    for result, snr in zip(results, (20.0, 10.0, 5.0), strict=True):
        [turn] = result.turns
        assert turn.snr_db == snr and turn.caller["snr_db"] == snr and turn.caller["noise"] == "white"
        assert abs(turn.caller["measured_snr_db"] - snr) < 0.5


def test_a_quiet_caller_on_a_noisy_line_keeps_the_asked_snr() -> None:
    """Noise is set against the speech as sent: 30 dB quieter speech gets 30 dB quieter noise."""
    clean = render_speech(TEXT, 16000, Voice())
    prompt = load_prompt(text=TEXT, sample_rate=16000, protocol="pcm", caller=Caller(snr_db=10, level_db=-30))
    quiet = np.concatenate([clean, np.zeros(len(prompt.audio) - len(clean), np.float32)]) * 10 ** (-30 / 20)
    assert abs(_independent_snr_db(quiet, prompt.audio, 16000) - 10.0) < 0.5
    # EoS is the clean prompt's: the quiet speech is still found.
    assert prompt.last_speech_frame == load_prompt(text=TEXT, sample_rate=16000, protocol="pcm").last_speech_frame
