"""Delay alignment by cross-correlation.

A pipeline adds latency, so the prompt comes back later than it was sent
(and codecs and jitter buffers add more). Intrusive metrics compare sample
for sample, so the two signals must be lined up first: the lag that
maximises their cross-correlation is the path delay, refined below one
sample by fitting a parabola through the peak. The probe reuses
:func:`find_delay` to measure ``path_delay_ms``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from voiceobs.errors import QualityError


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


def find_delay(
    reference: np.ndarray,
    received: np.ndarray,
    sample_rate: int,
    max_delay_s: float = 2.0,
) -> DelayEstimate:
    """Estimate how late ``received`` carries ``reference``, within ±``max_delay_s``.

    Works on any lengths; both are mean-removed so DC offsets do not bias
    the peak. Raises ``no_speech`` when either signal is all zeros (there
    is nothing to correlate).
    """
    ref = np.asarray(reference, dtype=np.float64).reshape(-1)
    rec = np.asarray(received, dtype=np.float64).reshape(-1)
    if ref.size == 0 or rec.size == 0:
        raise QualityError("too_short", "cannot align empty audio")
    ref = ref - ref.mean()
    rec = rec - rec.mean()
    ref_energy = float(np.dot(ref, ref))
    rec_energy = float(np.dot(rec, rec))
    if ref_energy == 0.0 or rec_energy == 0.0:
        raise QualityError("no_speech", "cannot align silence; one signal is all zeros")
    n = _next_fast_len(ref.size + rec.size - 1)
    spec = np.fft.rfft(rec, n) * np.conj(np.fft.rfft(ref, n))
    xcorr = np.fft.irfft(spec, n)  # xcorr[k] = sum_t rec[t + k] * ref[t], k wraps negative
    max_lag = int(max_delay_s * sample_rate)
    pos = min(max_lag, rec.size - 1)
    neg = min(max_lag, ref.size - 1)
    lags = np.concatenate([np.arange(-neg, 0), np.arange(0, pos + 1)])
    values = np.concatenate([xcorr[n - neg :], xcorr[: pos + 1]])
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


__all__ = ["DelayEstimate", "align", "find_delay", "trim_to_overlap"]
