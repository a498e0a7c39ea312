"""Batched STOI and ESTOI in torch.

STOI (Taal et al., 2011) and its extended form ESTOI (Jensen & Taal, 2016)
predict how intelligible a degraded signal is next to its clean original.
The reference implementation scores one pair at a time with Python loops
over frames; a probe fleet scores many calls at once, so this module runs
the same algorithm on a whole batch with tensor operations, on any torch
device, with items of different lengths in one batch.

The algorithm, step by step (every step is per item, done for all at once):

1. Resample to 10 kHz with the Octave-compatible polyphase filter (a Kaiser
   windowed sinc), the filter the published reference code uses, so scores
   match it rather than drifting by the resampler's passband ripple.
2. Drop frames (256 samples, hop 128, Hann) whose clean energy is more than
   40 dB under the loudest clean frame, and overlap-add the rest back.
3. STFT (same frames, 512-point FFT), group bins into 15 one-third octave
   bands from 150 Hz, take band magnitudes.
4. Over sliding 30-frame (384 ms) segments: STOI normalises and clips the
   degraded envelope (SDR bound -15 dB) and averages the band-wise
   correlations; ESTOI normalises each segment's rows then columns and
   averages the spectral correlation.

An item with fewer than 30 frames left after silence removal has no score:
its entry is NaN (the reference code returns 1e-5 and a warning, which
looks like a real, terrible score).

A long item (over about 105 s) is scored on its own and streamed: it is
resampled in blocks, the silent-frame decision is made over all its frames
(one energy per frame), and the kept frames go through steps 3-4 a few
thousand segments at a time, each chunk carrying the 30 frames its last
segments reach into. The score is a mean over segments, so the chunks add
up to the one-pass value (to float rounding), in memory that does not grow
with the length beyond the signal itself.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import torch

FS = 10000  # STOI's internal sampling rate
N_FRAME = 256  # frame length at 10 kHz (25.6 ms)
HOP = N_FRAME // 2
NFFT = 512
NUMBAND = 15  # one-third octave bands
MINFREQ = 150  # centre of the lowest band, Hz
N_SEG = 30  # frames per intermediate-intelligibility segment (384 ms)
BETA = -15.0  # lower signal-to-distortion bound, dB
DYN_RANGE = 40.0  # frames this far below the loudest clean frame are silence
EPS = float(np.finfo(np.float64).eps)

# Frames per chunk: keeps the working set near cache size (measured fastest on
# CPU) and bounds peak memory for long audio.
_FRAMES_PER_CHUNK = 2048
# Items with more frames than this are streamed (see the module docstring).
_STREAM_FRAMES = 8192
# Segments per streamed chunk, and resampler output positions per block.
_SEGMENTS_PER_CHUNK = 4096
_RESAMPLE_BLOCK = 1 << 16

ArrayLike = torch.Tensor | np.ndarray


@functools.cache
def _octave_band_matrix() -> np.ndarray:
    """15 x 257 matrix that sums FFT power bins into one-third octave bands."""
    f = np.linspace(0, FS, NFFT + 1)[: NFFT // 2 + 1]
    k = np.arange(NUMBAND, dtype=float)
    freq_low = MINFREQ * np.power(2.0, (2 * k - 1) / 6)
    freq_high = MINFREQ * np.power(2.0, (2 * k + 1) / 6)
    obm = np.zeros((NUMBAND, len(f)))
    for i in range(NUMBAND):
        lo = int(np.argmin(np.square(f - freq_low[i])))
        hi = int(np.argmin(np.square(f - freq_high[i])))
        obm[i, lo:hi] = 1.0
    return obm


@functools.cache
def _hann() -> np.ndarray:
    """Hann window without its zero end points (MATLAB's ``hanning``)."""
    return np.hanning(N_FRAME + 2)[1:-1]


@functools.cache
def _octave_filter(p: int, q: int) -> np.ndarray:
    """Kaiser-windowed sinc low-pass for resampling by p/q, as Octave designs it.

    Octave's ``resample`` aims for 60 dB rejection with a transition band a
    tenth of the cut-off; the reference STOI code uses this filter, so we do.
    """
    g = math.gcd(p, q)
    p, q = p // g, q // g
    stopband_cutoff_f = 1.0 / (2 * max(p, q))
    roll_off_width = stopband_cutoff_f / 10
    rejection_db = 60.0
    half = int(np.ceil((rejection_db - 8) / (28.714 * roll_off_width)))
    t = np.arange(-half, half + 1)
    ideal = 2 * p * stopband_cutoff_f * np.sinc(2 * stopband_cutoff_f * t)
    beta = 0.1102 * (rejection_db - 8.7)
    h = np.kaiser(2 * half + 1, beta) * ideal
    return h / np.sum(h)


@functools.cache
def _polyphase_plan(orig_rate: int) -> tuple[np.ndarray, int, int, int, int, int]:
    """Turn rational resampling to 10 kHz into one strided multi-channel conv1d.

    Zero-stuffing by ``up``, filtering and keeping every ``down``-th sample
    is equivalent to ``up`` short filters (polyphase components), each run
    with stride ``down`` and interleaved. Returns the kernel [up, width], up,
    down, the left padding, and the centring offset in output samples.
    """
    g = math.gcd(FS, orig_rate)
    up, down = FS // g, orig_rate // g
    h = _octave_filter(FS, orig_rate) * up
    half_len = (h.size - 1) // 2
    n_pre_pad = down - half_len % down
    h = np.concatenate([np.zeros(n_pre_pad), h])
    n_pre_remove = (half_len + n_pre_pad) // down
    taps = -(-h.size // up)
    h_ext = np.concatenate([h, np.zeros(taps * up + up - h.size)])
    # Output m = r + up*i sits at zero-stuffed index n = (r + R) * down + i*up*down.
    starts = [((r + n_pre_remove) * down) for r in range(up)]
    q0 = [s // up for s in starts]
    phases = [s % up for s in starts]
    left = taps - 1 - q0[0]
    width = q0[-1] - q0[0] + taps
    kernel = np.zeros((up, width))
    for r in range(up):
        g_r = h_ext[phases[r] + np.arange(taps) * up]
        # conv1d correlates: x[q_r + i*down - j] lives at tap q_r - j + left.
        idx = q0[r] - np.arange(taps) + left
        kernel[r, idx] = g_r
    return kernel, up, down, left, width, n_pre_remove


def _resample_to_10k(x: torch.Tensor, orig_rate: int) -> torch.Tensor:
    """Resample [B, T] (zero padded past each item's end) to 10 kHz."""
    if orig_rate == FS:
        return x
    kernel_np, up, down, left, width, _ = _polyphase_plan(orig_rate)
    n_in = x.shape[-1]
    n_out = -(-n_in * up // down)
    n_i = -(-n_out // up)
    kernel = torch.as_tensor(kernel_np, dtype=x.dtype, device=x.device).unsqueeze(1)
    xp = torch.nn.functional.pad(x, (left, 0)) if left >= 0 else x[:, -left:]
    need = (n_i - 1) * down + width
    if xp.shape[-1] < need:
        xp = torch.nn.functional.pad(xp, (0, need - xp.shape[-1]))
    out = torch.nn.functional.conv1d(xp.unsqueeze(1), kernel, stride=down)  # [B, up, n_i]
    return out[:, :, :n_i].transpose(1, 2).reshape(x.shape[0], -1)[:, :n_out]


def _resample_to_10k_blocks(
    x: torch.Tensor,
    orig_rate: int,
    dtype: torch.dtype,
    device: torch.device,
    block: int = _RESAMPLE_BLOCK,
) -> torch.Tensor:
    """:func:`_resample_to_10k` of one 1-D signal of any dtype, ``block`` filter positions at a time.

    Each block is converted to ``dtype`` on ``device`` as it is read, so the
    only full-length array made is the 10 kHz result.
    """
    if orig_rate == FS:
        return x.to(device=device, dtype=dtype)
    kernel_np, up, down, left, width, _ = _polyphase_plan(orig_rate)
    n_in = x.shape[-1]
    n_out = -(-n_in * up // down)
    n_i = -(-n_out // up)
    kernel = torch.as_tensor(kernel_np, dtype=dtype, device=device).unsqueeze(1)
    out = torch.empty(n_i * up, dtype=dtype, device=device)
    for i0 in range(0, n_i, block):
        i1 = min(i0 + block, n_i)
        # Positions i0..i1-1 read the left-padded signal at [i0*down, (i1-1)*down + width).
        lo, hi = i0 * down - left, (i1 - 1) * down + width - left
        seg = x[max(lo, 0) : min(hi, n_in)].to(device=device, dtype=dtype)
        seg = torch.nn.functional.pad(seg, (max(-lo, 0), max(hi - n_in, 0)))
        conv = torch.nn.functional.conv1d(seg.view(1, 1, -1), kernel, stride=down)  # [1, up, n]
        out[i0 * up : i1 * up] = conv[0].transpose(0, 1).reshape(-1)
    return out[:n_out]


def resampled_length(n: int, orig_rate: int) -> int:
    """Length of an ``n``-sample signal after resampling to 10 kHz."""
    if orig_rate == FS:
        return n
    g = math.gcd(FS, orig_rate)
    up, down = FS // g, orig_rate // g
    return -(-n * up // down)


def _frames(x: torch.Tensor, n_frames: int) -> torch.Tensor:
    """[B, T] -> [B, n_frames, N_FRAME] frames at hop 128 (zero padded at the end)."""
    need = (n_frames - 1) * HOP + N_FRAME if n_frames > 0 else N_FRAME
    if x.shape[-1] < need:
        x = torch.nn.functional.pad(x, (0, need - x.shape[-1]))
    return x.unfold(-1, N_FRAME, HOP)[:, :n_frames]


def _stft_mag(frames: torch.Tensor, window: torch.Tensor, obm: torch.Tensor) -> torch.Tensor:
    """One-third octave band magnitudes [B, 15, F] of the overlap-add of kept ``frames``.

    With hop = half a frame, STFT frame i of the OLA is half-segments i and
    i+1 of it, so frame i needs kept frames i-1, i and i+1 only.
    """
    first = torch.nn.functional.pad(frames[..., :HOP], (0, 0, 0, 1))
    second = torch.nn.functional.pad(frames[..., HOP:], (0, 0, 1, 0))
    seg = first + second
    st = torch.cat([seg[:, :-1], seg[:, 1:]], dim=-1) * window
    spec = torch.view_as_real(torch.fft.rfft(st, n=NFFT))
    power = spec.square().sum(dim=-1)
    return torch.sqrt(power @ obm.T).transpose(1, 2)  # [B, 15, frames]


def _per_segment(
    x_tob: torch.Tensor, y_tob: torch.Tensor, want_stoi: bool, want_estoi: bool
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """STOI (summed over bands) and ESTOI of every 30-frame segment of [B, 15, F] envelopes."""
    dt = x_tob.dtype
    xs = x_tob.unfold(-1, N_SEG, 1)  # [B, 15, S, 30] view, no copy
    ys = y_tob.unfold(-1, N_SEG, 1)
    stoi_seg = estoi_seg = None
    if want_stoi:
        y_sq = _sliding_sum(y_tob.square())
        x_sq = _sliding_sum(x_tob.square())
        scale = (x_sq.sqrt() / (y_sq.sqrt() + EPS)).to(dt).unsqueeze(-1)
        clip = 1 + 10 ** (-BETA / 20)
        # Scale the degraded envelope to the clean one's energy, then bound its distortion.
        y_prime = torch.minimum(ys * scale, xs * clip)
        y_prime = y_prime - y_prime.mean(dim=-1, keepdim=True)
        # Both centred in full: a band whose clean envelope is nearly constant (a steady
        # tone) has a centred norm near zero, which the sliding sums' variance formula
        # (sum of squares minus square of sum) loses to cancellation, and rounding noise
        # divided by that lost norm gave a STOI of 1e13 for a signal against itself.
        x_c = xs - xs.mean(dim=-1, keepdim=True)
        num = torch.linalg.vecdot(y_prime, x_c)
        den = (torch.linalg.vecdot(y_prime, y_prime).sqrt() + EPS) * (
            torch.linalg.vecdot(x_c, x_c).sqrt() + EPS
        )
        stoi_seg = (num / den).sum(dim=1)  # [B, S]
    if want_estoi:
        # Per-segment, per-band means and centred norms come from float64 sliding sums over
        # [B, 15, F]: far cheaper than reducing the 30x larger segment tensor; ESTOI's
        # second (column) normalisation absorbs what their cancellation loses.
        x_mean, x_dev = _sliding_stats(x_tob)
        y_mean, y_dev = _sliding_stats(y_tob)
        xn = _row_col_normalize(xs, x_mean, x_dev)
        yn = _row_col_normalize(ys, y_mean, y_dev)
        estoi_seg = (xn * yn).sum(dim=(1, 3)) / N_SEG
    return stoi_seg, estoi_seg


def _core(
    x: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor, want_stoi: bool, want_estoi: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """STOI and ESTOI of 10 kHz [B, T] pairs with per-item valid ``lengths``.

    Both share everything up to the band envelopes, so asking for both costs
    little more than asking for one. A measure not asked for comes back NaN.
    """
    b = x.shape[0]
    dev, dt = x.device, x.dtype
    window = torch.as_tensor(_hann(), dtype=dt, device=dev)
    obm = torch.as_tensor(_octave_band_matrix(), dtype=dt, device=dev)

    # Frames the reference code visits: starts 0, 128, ... while start < len - 256.
    n_valid = torch.clamp(torch.div(lengths - N_FRAME + HOP - 1, HOP, rounding_mode="floor"), min=0)
    n_valid = torch.where(lengths > N_FRAME, n_valid, torch.zeros_like(n_valid))
    f_max = max(int(n_valid.max().item()), 1)
    xf = _frames(x, f_max) * window
    yf = _frames(y, f_max) * window
    frame_idx = torch.arange(f_max, device=dev)
    valid = frame_idx.unsqueeze(0) < n_valid.unsqueeze(1)

    # Silent-frame removal, decided on the clean signal only.
    # Energies in float64 whatever the working dtype: a frame right at the
    # 40 dB threshold must fall on the same side as in the reference.
    energy = 20 * torch.log10(torch.linalg.vector_norm(xf.double(), dim=-1) + EPS)
    energy = torch.where(valid, energy, torch.full_like(energy, -math.inf))
    loudest = energy.max(dim=1, keepdim=True).values
    keep = valid & ((loudest - DYN_RANGE - energy) < 0)
    kept = keep.sum(dim=1)
    # Move kept frames to the front, preserving order (stable sort of "dropped" flags).
    order = torch.sort((~keep).to(torch.int8), dim=1, stable=True).indices
    gather = order.unsqueeze(-1).expand(-1, -1, N_FRAME)
    live = (frame_idx.unsqueeze(0) < kept.unsqueeze(1)).unsqueeze(-1)
    xf = torch.gather(xf, 1, gather) * live
    yf = torch.gather(yf, 1, gather) * live

    n_stft = torch.clamp(kept - 1, min=0)
    x_tob = _stft_mag(xf, window, obm)
    y_tob = _stft_mag(yf, window, obm)
    stft_live = (frame_idx.unsqueeze(0) < n_stft.unsqueeze(1)).unsqueeze(1)
    x_tob = x_tob * stft_live
    y_tob = y_tob * stft_live

    n_segments = n_stft - N_SEG + 1
    nan = torch.full((b,), math.nan, dtype=dt, device=dev)
    if f_max < N_SEG:
        return nan, nan
    seg_live = (
        torch.arange(f_max - N_SEG + 1, device=dev).unsqueeze(0) < n_segments.unsqueeze(1)
    ).to(dt)
    enough = n_segments >= 1
    count = torch.clamp(n_segments, min=1).to(dt)
    stoi_seg, estoi_seg = _per_segment(x_tob, y_tob, want_stoi, want_estoi)
    stoi_val = estoi_val = nan
    if stoi_seg is not None:
        total = (stoi_seg * seg_live).sum(dim=1)
        stoi_val = torch.where(enough, total / (count * NUMBAND), nan)
    if estoi_seg is not None:
        total = (estoi_seg * seg_live).sum(dim=1)
        estoi_val = torch.where(enough, total / count, nan)
    return stoi_val, estoi_val


def _core_streamed(
    x: torch.Tensor,
    y: torch.Tensor,
    length: int,
    want_stoi: bool,
    want_estoi: bool,
    chunk: int = _SEGMENTS_PER_CHUNK,
) -> tuple[float, float]:
    """:func:`_core` of one long 10 kHz pair, ``chunk`` segments at a time (NaN if none)."""
    dev, dt = x.device, x.dtype
    window = torch.as_tensor(_hann(), dtype=dt, device=dev)
    obm = torch.as_tensor(_octave_band_matrix(), dtype=dt, device=dev)
    n_valid = -(-(length - N_FRAME) // HOP) if length > N_FRAME else 0
    if n_valid == 0:
        return math.nan, math.nan
    x_frames = x[:length].unfold(0, N_FRAME, HOP)[:n_valid]  # views, no copy
    y_frames = y[:length].unfold(0, N_FRAME, HOP)[:n_valid]
    energy = torch.empty(n_valid, dtype=torch.float64, device=dev)
    for a in range(0, n_valid, chunk):
        block = x_frames[a : a + chunk] * window
        energy[a : a + chunk] = 20 * torch.log10(
            torch.linalg.vector_norm(block.double(), dim=-1) + EPS
        )
    kept = torch.nonzero((energy.max() - DYN_RANGE - energy) < 0).squeeze(1)
    n_segments = kept.numel() - N_SEG  # (kept - 1) STFT frames, 30 per segment
    if n_segments < 1:
        return math.nan, math.nan
    stoi_total = estoi_total = 0.0
    for a in range(0, n_segments, chunk):
        b = min(a + chunk, n_segments)
        # Segments a..b-1 span envelope frames a..b+28, which need kept frames a-1..b+29.
        lo = max(a - 1, 0)
        idx = kept[lo : b + N_SEG]
        xf = x_frames.index_select(0, idx).unsqueeze(0) * window
        yf = y_frames.index_select(0, idx).unsqueeze(0) * window
        span = slice(a - lo, a - lo + (b - a) + N_SEG - 1)
        x_tob = _stft_mag(xf, window, obm)[..., span]
        y_tob = _stft_mag(yf, window, obm)[..., span]
        stoi_seg, estoi_seg = _per_segment(x_tob, y_tob, want_stoi, want_estoi)
        if stoi_seg is not None:
            stoi_total += float(stoi_seg.double().sum())
        if estoi_seg is not None:
            estoi_total += float(estoi_seg.double().sum())
    stoi_val = stoi_total / (n_segments * NUMBAND) if want_stoi else math.nan
    estoi_val = estoi_total / n_segments if want_estoi else math.nan
    return stoi_val, estoi_val


def _sliding_sum(env: torch.Tensor) -> torch.Tensor:
    """Sum over every 30-frame window of [B, 15, F], in float64: [B, 15, F - 29]."""
    cs = torch.nn.functional.pad(env.double().cumsum(dim=-1), (1, 0))
    return cs[..., N_SEG:] - cs[..., :-N_SEG]


def _sliding_stats(env: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-window mean and centred L2 norm of each band's envelope (float64)."""
    s1 = _sliding_sum(env)
    s2 = _sliding_sum(env.square())
    mean = s1 / N_SEG
    dev = torch.clamp(s2 - s1 * mean, min=0).sqrt()
    return mean, dev


def _row_col_normalize(x: torch.Tensor, mean: torch.Tensor, dev: torch.Tensor) -> torch.Tensor:
    """ESTOI's normalisation of [B, 15, S, 30] segments: rows (time) then columns (bands)."""
    inv = (1.0 / (dev + EPS)).to(x.dtype).unsqueeze(-1)
    r = (x - mean.to(x.dtype).unsqueeze(-1)) * inv
    r = r - r.mean(dim=1, keepdim=True)
    return r / (r.square().sum(dim=1, keepdim=True).sqrt() + EPS)


def _rows(
    items: ArrayLike | Sequence[ArrayLike], lengths: Sequence[int] | torch.Tensor | None
) -> list[torch.Tensor]:
    """Each item as a 1-D tensor of its true length: views and zero-copy wraps, no dtype change.

    Padding to a common width happens per chunk, so one long item does not
    make every short one as long (a batch is padded only as far as its chunk).
    """
    if isinstance(items, (torch.Tensor, np.ndarray)):
        t = torch.as_tensor(items)
        if t.ndim == 1:
            t = t.unsqueeze(0)
        if t.ndim != 2:
            raise ValueError(f"expected a [B, T] batch, got shape {tuple(t.shape)}")
        if lengths is None:
            lens = [t.shape[1]] * t.shape[0]
        else:
            lens = [
                int(n) for n in (lengths.tolist() if isinstance(lengths, torch.Tensor) else lengths)
            ]
            if len(lens) != t.shape[0] or any(n < 0 or n > t.shape[1] for n in lens):
                raise ValueError(
                    "lengths must give one length per row, each within the padded width"
                )
        return [t[i, :n] for i, n in enumerate(lens)]
    seq = [torch.as_tensor(a) for a in items]
    if any(a.ndim != 1 for a in seq):
        raise ValueError("each item of a list batch must be a 1-D signal")
    if not seq:
        raise ValueError("empty batch")
    return seq


def _padded(
    rows: Sequence[torch.Tensor], width: int, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    out = torch.zeros((len(rows), width), dtype=dtype, device=device)
    for i, row in enumerate(rows):
        out[i, : row.shape[0]] = row.to(device=device, dtype=dtype)
    return out


def stoi_batch(
    clean: ArrayLike | Sequence[ArrayLike],
    degraded: ArrayLike | Sequence[ArrayLike],
    fs: int,
    extended: bool = False,
    *,
    lengths: Sequence[int] | torch.Tensor | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """STOI (or ESTOI with ``extended=True``) for every clean/degraded pair.

    ``clean`` and ``degraded`` are either [B, T] tensors (zero padded, with
    ``lengths`` giving each row's true length) or lists of 1-D signals, the
    i-th clean and i-th degraded of equal length. Returns a [B] tensor on
    the chosen device; an item too short to score (under 30 frames of
    speech) is NaN. float32 agrees with the float64 reference to about 1e-6
    and costs half as much; pass ``dtype=torch.float64`` for bit-level parity.
    """
    s, e = stoi_estoi_batch(
        clean, degraded, fs, lengths=lengths, device=device, dtype=dtype,
        stoi=not extended, estoi=extended,
    )  # fmt: skip
    return e if extended else s


def stoi_estoi_batch(
    clean: ArrayLike | Sequence[ArrayLike],
    degraded: ArrayLike | Sequence[ArrayLike],
    fs: int,
    *,
    lengths: Sequence[int] | torch.Tensor | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    stoi: bool = True,
    estoi: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """STOI and ESTOI together, sharing resampling, framing and the STFT.

    Same inputs as :func:`stoi_batch`; returns ``(stoi, estoi)``, each [B].
    """
    if fs <= 0:
        raise ValueError(f"sampling rate must be positive, got {fs}")
    xs = _rows(clean, lengths)
    ys = _rows(degraded, lengths)
    lens_x = [int(r.shape[0]) for r in xs]
    if lens_x != [int(r.shape[0]) for r in ys]:
        raise ValueError("clean and degraded must have the same length for every item")
    dev = torch.device(device) if device is not None else xs[0].device
    out_s = torch.full((len(xs),), math.nan, dtype=dtype, device=dev)
    out_e = out_s.clone()
    # Chunk the batch so frames in flight stay bounded; similar lengths go together.
    order = sorted(range(len(lens_x)), key=lambda i: lens_x[i])
    start = 0
    while start < len(order):
        end = start + 1
        while end < len(order):
            frames = resampled_length(lens_x[order[end]], fs) // HOP + 1
            if (end - start + 1) * frames > _FRAMES_PER_CHUNK:
                break
            end += 1
        idx = order[start:end]
        start = end
        width = max(max(lens_x[i] for i in idx), 1)
        if len(idx) == 1 and resampled_length(width, fs) // HOP > _STREAM_FRAMES:
            i = idx[0]
            x10 = _resample_to_10k_blocks(xs[i], fs, dtype, dev)
            y10 = _resample_to_10k_blocks(ys[i], fs, dtype, dev)
            out_s[i], out_e[i] = _core_streamed(x10, y10, x10.shape[0], stoi, estoi)
            continue
        sel = torch.tensor(idx, device=dev)
        x = _padded([xs[i] for i in idx], width, dtype, dev)
        y = _padded([ys[i] for i in idx], width, dtype, dev)
        both = _resample_to_10k(torch.cat([x, y]), fs)
        lens10 = torch.tensor([resampled_length(lens_x[i], fs) for i in idx], device=dev)
        # Zero what the filter smeared past each item's end: the reference sees no samples there.
        past_end = torch.arange(both.shape[1], device=dev).unsqueeze(0) >= lens10.repeat(
            2
        ).unsqueeze(1)
        both = both.masked_fill(past_end, 0.0)
        n = len(idx)
        s_val, e_val = _core(both[:n], both[n:], lens10, stoi, estoi)
        out_s[sel] = s_val
        out_e[sel] = e_val
    return out_s, out_e


__all__ = ["resampled_length", "stoi_batch", "stoi_estoi_batch"]
