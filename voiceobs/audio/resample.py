"""Sample-rate conversion with torchaudio's band-limited sinc resampler.

torchaudio's resampler needs about eight times its input in temporaries (a
30-minute 16 kHz file would take 0.9 GB to halve its rate), so a long
signal is converted in blocks of about a million samples. The filter only
reaches a few dozen samples either side, so each block is given that much
of its neighbours and the blocks join into the signal one call would give
(equal to float32 rounding); short signals take one call.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torchaudio.functional as AF

#: Inputs longer than this are converted block by block.
_ONE_CALL_SAMPLES = 1 << 21
_BLOCK = 1 << 20
# torchaudio's defaults, needed to know how far the filter reaches.
_FILTER_WIDTH = 6
_ROLLOFF = 0.99


def resample(audio: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """Resample mono float audio; returns float32 numpy.

    torchaudio's windowed-sinc filter keeps speech content below the new
    Nyquist intact, which matters because PESQ and STOI are sensitive to
    the imaging a naive resampler leaves behind.
    """
    if orig_rate == new_rate:
        return np.asarray(audio, dtype=np.float32)
    x = np.ascontiguousarray(audio, dtype=np.float32)
    if x.shape[-1] <= _ONE_CALL_SAMPLES:
        return _one_call(x, orig_rate, new_rate)
    return _blocks(x, orig_rate, new_rate, _BLOCK)


def _one_call(x: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    out = AF.resample(torch.from_numpy(x), orig_rate, new_rate)
    return out.numpy().astype(np.float32, copy=False)


def _blocks(x: np.ndarray, orig_rate: int, new_rate: int, block: int) -> np.ndarray:
    """What one call gives (to float32 rounding), converted ``block`` input samples at a time."""
    g = math.gcd(orig_rate, new_rate)
    up, down = new_rate // g, orig_rate // g
    width = math.ceil(_FILTER_WIDTH * down / (min(up, down) * _ROLLOFF))
    # Context and block start on whole periods of the rational ratio, so
    # output sample k of a block is output sample k + offset of the whole.
    context = down * (math.ceil(2 * width / down) + 2)
    step = down * max(1, block // down)
    n = x.shape[0]
    total = math.ceil(up * n / down)
    out = np.empty(total, dtype=np.float32)
    for start in range(0, n, step):
        stop = min(start + step, n)
        lo, hi = max(start - context, 0), min(stop + context, n)
        piece = _one_call(x[lo:hi], orig_rate, new_rate)
        first = (start - lo) * up // down
        o0 = start * up // down
        o1 = total if stop == n else stop * up // down
        out[o0:o1] = piece[first : first + (o1 - o0)]
    return out


__all__ = ["resample"]
