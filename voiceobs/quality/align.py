"""Delay alignment by cross-correlation.

A pipeline adds latency, so the prompt comes back later than it was sent
(and codecs and jitter buffers add more). Intrusive metrics compare sample
for sample, so the two signals must be lined up first: the lag that
maximises their cross-correlation is the path delay, refined below one
sample by fitting a parabola through the peak. The probe reuses
:func:`find_delay` to measure ``path_delay_ms``.

Only lags within the search range are ever needed, so long recordings are
correlated block by block (overlap-save): memory stays a few blocks' worth
whatever the length, where one FFT over both signals would take about 64
bytes per sample (2 GB for a 30-minute 16 kHz pair). Short pairs keep the
single FFT, so their estimates are exactly what they always were.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from voiceobs.errors import ConfigError, QualityError

#: Widest delay search accepted: a path that late is a broken pipeline, and the
#: bound keeps the block correlation's memory bounded.
MAX_DELAY_S = 60.0

#: Pairs with more samples than this between them are correlated in blocks.
_SINGLE_FFT_SAMPLES = 1 << 22
#: Reference samples per block of the blocked correlation.
_BLOCK = 1 << 20


@dataclass(frozen=True)
class DelayEstimate:
    """Where ``received`` lines up with ``reference``.

    ``delay_samples`` > 0 means the received signal is late by that many
    samples (sub-sample precision); ``correlation`` is the normalised peak
    (1.0 for an exact, delayed copy), a confidence for the estimate.
    """

    delay_samples: float
    delay_ms: float
    correlation: float

    @property
    def shift(self) -> int:
        """The delay rounded to whole samples, for trimming."""
        return round(self.delay_samples)


def _next_fast_len(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n: FFT sizes that are fast in numpy."""
    best = 1 << (n - 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def check_max_delay(max_delay_s: float) -> float:
    """Return ``max_delay_s`` as a float if it is a usable search range, else raise ``ConfigError``."""
    try:
        value = float(max_delay_s)
    except (TypeError, ValueError):
        raise ConfigError(f"max delay {max_delay_s!r} is not a number of seconds") from None
    if not math.isfinite(value) or not 0.0 <= value <= MAX_DELAY_S:
        raise ConfigError(
            f"max delay {max_delay_s!r} s is out of range; give seconds from 0 to {MAX_DELAY_S:g}"
        )
    return value


def find_delay(
    reference: np.ndarray,
    received: np.ndarray,
    sample_rate: int,
    max_delay_s: float = 2.0,
) -> DelayEstimate:
    """Estimate how late ``received`` carries ``reference``, within ±``max_delay_s``.

    Works on any lengths; both are mean-removed so DC offsets do not bias
    the peak. Raises ``no_speech`` when either signal has nothing to
    correlate (all zeros, or a constant level), and ``ConfigError`` for a
    search range that is negative, not finite or over :data:`MAX_DELAY_S`.
    """
    max_delay_s = check_max_delay(max_delay_s)
    ref = _floats(reference)
    rec = _floats(received)
    if ref.size == 0 or rec.size == 0:
        raise QualityError("too_short", "cannot align empty audio")
    max_lag = int(max_delay_s * sample_rate)
    pos = min(max_lag, rec.size - 1)
    neg = min(max_lag, ref.size - 1)
    if ref.size + rec.size <= _SINGLE_FFT_SAMPLES:
        ref = np.asarray(ref, dtype=np.float64)
        rec = np.asarray(rec, dtype=np.float64)
        ref = ref - ref.mean()
        rec = rec - rec.mean()
        ref_energy = float(np.dot(ref, ref))
        rec_energy = float(np.dot(rec, rec))
        _check_energy(ref_energy, rec_energy)
        n = _next_fast_len(ref.size + rec.size - 1)
        spec = np.fft.rfft(rec, n) * np.conj(np.fft.rfft(ref, n))
        xcorr = np.fft.irfft(spec, n)  # xcorr[k] = sum_t rec[t + k] * ref[t], k wraps negative
        values = np.concatenate([xcorr[n - neg :], xcorr[: pos + 1]])
    else:
        values, ref_energy, rec_energy = _blocked_xcorr(ref, rec, neg, pos)
    lags = np.concatenate([np.arange(-neg, 0), np.arange(0, pos + 1)])
    i = int(np.argmax(values))
    frac = 0.0
    if 0 < i < values.size - 1:
        # Parabola through the peak and its neighbours: sub-sample lag.
        y0, y1, y2 = values[i - 1], values[i], values[i + 1]
        denom = y0 - 2 * y1 + y2
        if denom < 0:
            frac = float(np.clip(0.5 * (y0 - y2) / denom, -0.5, 0.5))
    delay = float(lags[i]) + frac
    corr = float(values[i] / np.sqrt(ref_energy * rec_energy))
    return DelayEstimate(delay, 1000.0 * delay / sample_rate, corr)


def _floats(x: np.ndarray) -> np.ndarray:
    """1-D float32 or float64 as given (long signals are widened block by block later)."""
    arr = np.asarray(x).reshape(-1)
    return arr if arr.dtype in (np.float32, np.float64) else arr.astype(np.float64)


def _check_energy(ref_energy: float, rec_energy: float) -> None:
    if ref_energy == 0.0:
        raise QualityError("no_speech", "cannot align: the reference is silent or a constant level")
    if rec_energy == 0.0:
        raise QualityError(
            "no_speech", "cannot align: the received audio is silent or a constant level"
        )


def _centred_energy(x: np.ndarray, mean: float) -> float:
    total = 0.0
    for start in range(0, x.size, _BLOCK):
        block = x[start : start + _BLOCK].astype(np.float64) - mean
        total += float(np.dot(block, block))
    return total


def _blocked_xcorr(
    ref: np.ndarray, rec: np.ndarray, neg: int, pos: int
) -> tuple[np.ndarray, float, float]:
    """Cross-correlation at lags -neg..pos of the mean-removed signals, one block at a time.

    Block ``[s, s + B)`` of the reference meets ``rec[s - neg : s + B + pos]``;
    one FFT of that length (zero beyond either end) gives the block's share
    of every lag, and the shares add up to the full correlation.
    """
    ref_mean = float(np.mean(ref, dtype=np.float64))
    rec_mean = float(np.mean(rec, dtype=np.float64))
    ref_energy = _centred_energy(ref, ref_mean)
    rec_energy = _centred_energy(rec, rec_mean)
    _check_energy(ref_energy, rec_energy)
    width = neg + pos + 1
    n = _next_fast_len(_BLOCK + width - 1)
    values = np.zeros(width)
    for start in range(0, ref.size, _BLOCK):
        block = ref[start : start + _BLOCK].astype(np.float64) - ref_mean
        lo, hi = start - neg, start + block.size + pos
        seg = np.zeros(hi - lo)
        a, b = max(lo, 0), min(hi, rec.size)
        if b > a:
            seg[a - lo : b - lo] = rec[a:b].astype(np.float64) - rec_mean
        spec = np.fft.rfft(seg, n) * np.conj(np.fft.rfft(block, n))
        # c[j] = sum_t seg[t + j] * block[t] = the block's share of lag j - neg.
        values += np.fft.irfft(spec, n)[:width]
    return values, ref_energy, rec_energy


def trim_to_overlap(
    reference: np.ndarray, received: np.ndarray, shift: int
) -> tuple[np.ndarray, np.ndarray]:
    """Cut both signals to the span where they overlap once ``received`` is moved back by ``shift``."""
    if shift >= 0:
        rec = received[shift:]
        ref = reference
    else:
        ref = reference[-shift:]
        rec = received
    n = min(ref.shape[0], rec.shape[0])
    return ref[:n], rec[:n]


def align(
    reference: np.ndarray,
    received: np.ndarray,
    sample_rate: int,
    max_delay_s: float = 2.0,
) -> tuple[np.ndarray, np.ndarray, DelayEstimate]:
    """Find the delay and return both signals trimmed to their aligned overlap."""
    est = find_delay(reference, received, sample_rate, max_delay_s)
    ref, rec = trim_to_overlap(reference, received, est.shift)
    return ref, rec, est


__all__ = [
    "MAX_DELAY_S",
    "DelayEstimate",
    "align",
    "check_max_delay",
    "find_delay",
    "trim_to_overlap",
]
