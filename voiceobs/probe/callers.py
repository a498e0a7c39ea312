"""Hard callers: the conditions a spec's ``caller:`` applies to a prompt before it is sent.

In order: the prompt is spoken at the caller's rate (text prompts), scaled to
its level, mixed with generated noise at the asked signal-to-noise ratio,
then run through the line's codec and packet loss (the same G.711 tables and
seeded loss model as the ``codec`` pipeline). Everything is seeded, so one
spec always sends the same audio and a WER measured against SNR is
repeatable.

The SNR is the ratio of the speech's power to the noise's, the speech's
measured over the frames that carry it (above the probe's speech threshold
in the clean prompt) and the noise's over the whole prompt: a caller on a
noisy line is noisy between words too, and leading silence must not make a
prompt look cleaner than it sounds.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from voiceobs.audio.g711 import alaw_decode, alaw_encode, float_to_int16, mulaw_decode, mulaw_encode
from voiceobs.probe.spec import Caller

#: The prompts' speech threshold (``voiceobs.probe.prompts.SPEECH_THRESHOLD_DBFS``, which
#: passes it in): a frame above it carries speech.
DEFAULT_SPEECH_DBFS = -40.0


def _frame_samples(sample_rate: int) -> int:
    return sample_rate // 50


def make_noise(kind: Literal["white", "pink", "brown"], n: int, seed: int) -> np.ndarray:
    """``n`` samples of seeded noise with unit power: flat, 1/f or 1/f^2 in power."""
    rng = np.random.default_rng(seed)
    white = rng.standard_normal(n)
    if kind != "white" and n > 1:
        spectrum = np.fft.rfft(white)
        f = np.arange(spectrum.size, dtype=np.float64)
        f[0] = 1.0
        spectrum /= f ** (0.5 if kind == "pink" else 1.0)
        spectrum[0] = 0.0  # no DC: a line carries none
        white = np.fft.irfft(spectrum, n)
    power = float(np.mean(white**2)) if n else 0.0
    return (white / np.sqrt(power) if power > 0 else white).astype(np.float64)


def speech_power(audio: np.ndarray, sample_rate: int, threshold_dbfs: float = DEFAULT_SPEECH_DBFS) -> float:
    """Mean power over the 20 ms frames that carry speech (above ``threshold_dbfs``)."""
    n = _frame_samples(sample_rate)
    usable = len(audio) // n * n
    frames = np.asarray(audio[:usable], dtype=np.float64).reshape(-1, n)
    if not frames.size:
        return 0.0
    power = np.mean(frames**2, axis=1)
    active = 10.0 * np.log10(np.maximum(power, 1e-12)) > threshold_dbfs
    return float(np.mean(frames[active] ** 2)) if active.any() else 0.0


def apply_caller(
    audio: np.ndarray, sample_rate: int, caller: Caller, threshold_dbfs: float = DEFAULT_SPEECH_DBFS
) -> np.ndarray:
    """The prompt as this caller sends it (float32, clipped to full scale).

    The speech power the noise is set against is the clean prompt's, over
    its frames above ``threshold_dbfs`` (before the level change, so a quiet
    caller's speech is still found), scaled by the level.
    """
    gain = 10 ** (caller.level_db / 20)
    x = np.asarray(audio, dtype=np.float64) * gain
    if caller.snr_db is not None and x.size:
        power = speech_power(np.asarray(audio, np.float64), sample_rate, threshold_dbfs) * gain**2
        noise = make_noise(caller.noise, x.size, caller.seed)
        x = x + noise * np.sqrt(power / 10 ** (caller.snr_db / 10))
    x = np.clip(x, -1.0, 1.0)
    if caller.codec != "none" or caller.loss != "none":
        x = _line(x.astype(np.float32), sample_rate, caller)
    return x.astype(np.float32)


def _line(audio: np.ndarray, sample_rate: int, caller: Caller) -> np.ndarray:
    """G.711 and seeded packet loss per 20 ms frame, concealed as the codec pipeline does."""
    from voiceobs.pipelines.codec import LossModel

    pcm = float_to_int16(audio)
    if caller.codec == "mulaw":
        pcm = mulaw_decode(mulaw_encode(pcm))
    elif caller.codec == "alaw":
        pcm = alaw_decode(alaw_encode(pcm))
    if caller.loss != "none":
        loss = LossModel.for_caller(caller.loss, caller.loss_rate, caller.seed)
        n = _frame_samples(sample_rate)
        out = pcm.astype(np.float32)
        last: np.ndarray | None = None
        run = 0
        for i in range(0, len(out) - n + 1, n):
            if loss.lost():
                run += 1
                out[i : i + n] = 0.0 if last is None or run > 3 else last * 0.5**run
            else:
                run, last = 0, out[i : i + n].copy()
        return out / 32768.0
    return pcm.astype(np.float32) / 32768.0


def measured_snr_db(
    clean: np.ndarray, sent: np.ndarray, sample_rate: int, threshold_dbfs: float = DEFAULT_SPEECH_DBFS
) -> float | None:
    """The SNR a sent prompt really has against its clean speech (what the result records).

    ``clean`` is the prompt at the caller's level; its speech frames are found
    at that level unless it is too quiet, then in the prompt's own terms.
    """
    noise = np.asarray(sent, np.float64)[: len(clean)] - np.asarray(clean, np.float64)[: len(sent)]
    p_noise = float(np.mean(noise**2)) if noise.size else 0.0
    p_speech = speech_power(clean, sample_rate, threshold_dbfs)
    if p_noise <= 0 or p_speech <= 0:
        return None
    return 10 * float(np.log10(p_speech / p_noise))


__all__ = ["apply_caller", "make_noise", "measured_snr_db", "speech_power"]
