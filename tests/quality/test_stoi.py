"""stoi_batch against pystoi (the reference implementation) on real speech."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pytest
import torch
from pystoi import stoi as pystoi

from tests.quality.helpers import CONDITIONS, degrade
from voiceobs.quality import stoi_batch
from voiceobs.quality.stoi import stoi_estoi_batch


def _reference(clean: list[np.ndarray], deg: list[np.ndarray], fs: int, ext: bool) -> np.ndarray:
    np.random.seed(0)  # pystoi's ESTOI adds eps-scale random dither
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.array([pystoi(c, d, fs, extended=ext) for c, d in zip(clean, deg, strict=True)])


@pytest.mark.parametrize("fs", [16000, 8000, 44100])
@pytest.mark.parametrize("extended", [False, True])
def test_mixed_length_batch_matches_pystoi(
    render: Callable[[str, int], np.ndarray], fs: int, extended: bool
) -> None:
    clean: list[np.ndarray] = []
    deg: list[np.ndarray] = []
    for name in ("greeting", "account", "short"):
        x = render(name, fs)
        for condition in CONDITIONS:
            clean.append(x)
            deg.append(degrade(x, condition, fs))
    assert len({c.shape[0] for c in clean}) == 3  # really a mixed-length batch
    ours = stoi_batch(clean, deg, fs, extended=extended).numpy()
    ref = _reference(clean, deg, fs, extended)
    assert ours.shape == (len(clean),)
    np.testing.assert_allclose(ours, ref, atol=1e-4, rtol=0)
    # The conditions must actually spread the scores, or the match proves little.
    assert ref.max() - ref.min() > 0.15


def test_padded_tensor_with_lengths_equals_list(speech: dict[str, np.ndarray]) -> None:
    xs = [speech["greeting"], speech["short"]]
    ys = [degrade(x, "snr10") for x in xs]
    width = max(x.shape[0] for x in xs)
    pad = lambda a: np.pad(a, (0, width - a.shape[0]))  # noqa: E731
    clean = torch.tensor(np.stack([pad(x) for x in xs]))
    noisy = torch.tensor(np.stack([pad(y) for y in ys]))
    lengths = [x.shape[0] for x in xs]
    padded = stoi_batch(clean, noisy, 16000, lengths=lengths)
    listed = stoi_batch(xs, ys, 16000)
    torch.testing.assert_close(padded, listed, atol=1e-6, rtol=0)


def test_float64_is_bit_close_to_pystoi(speech: dict[str, np.ndarray]) -> None:
    x = speech["account"]
    y = degrade(x, "snr0")
    ours = stoi_batch([x], [y], 16000, dtype=torch.float64).item()
    assert abs(ours - pystoi(x, y, 16000)) < 1e-9


def test_stoi_and_estoi_together_equal_separate(speech: dict[str, np.ndarray]) -> None:
    x = speech["greeting"]
    y = degrade(x, "mulaw")
    s, e = stoi_estoi_batch([x], [y], 16000)
    assert s.item() == pytest.approx(stoi_batch([x], [y], 16000).item(), abs=1e-7)
    assert e.item() == pytest.approx(stoi_batch([x], [y], 16000, extended=True).item(), abs=1e-7)


def test_too_short_item_is_nan_not_a_fake_score(speech: dict[str, np.ndarray]) -> None:
    x = speech["greeting"]
    tiny = x[4000:8000]  # 0.25 s: under 30 STFT frames
    out = stoi_batch([x, tiny], [x, tiny], 16000)
    assert out[0].item() == pytest.approx(1.0, abs=1e-6)
    assert torch.isnan(out[1])


def test_mismatched_pair_lengths_are_refused(speech: dict[str, np.ndarray]) -> None:
    x = speech["greeting"]
    with pytest.raises(ValueError, match="same length"):
        stoi_batch([x], [x[:-10]], 16000)


def test_runs_on_the_requested_device(speech: dict[str, np.ndarray]) -> None:
    x = torch.tensor(speech["short"])
    out = stoi_batch(x.unsqueeze(0), x.unsqueeze(0), 16000, device="cpu")
    assert out.device.type == "cpu"
    if torch.cuda.is_available():  # pragma: no cover - no GPU on CI
        gpu = stoi_batch(x.unsqueeze(0), x.unsqueeze(0), 16000, device="cuda")
        assert gpu.device.type == "cuda"
        assert abs(gpu.item() - out.item()) < 1e-4


def _long(speech: dict[str, np.ndarray], seconds: float, rate: int = 16000) -> np.ndarray:
    gap = np.zeros(int(0.7 * rate))
    unit = np.concatenate([speech["greeting"], gap, speech["account"], gap])
    n = int(seconds * rate)
    return np.concatenate([np.zeros(3000), np.tile(unit, n // unit.size + 1)])[:n]


@pytest.mark.parametrize("chunk", [5, 4096])
def test_streamed_chunks_add_up_to_the_one_pass_value(
    speech: dict[str, np.ndarray], chunk: int
) -> None:
    from voiceobs.quality.stoi import _core, _core_streamed, _resample_to_10k

    x = _long(speech, 20)
    y = degrade(x, "snr0")
    both = _resample_to_10k(torch.tensor(np.stack([x, y]), dtype=torch.float32), 16000)
    n = both.shape[1]
    s1, e1 = _core(both[:1], both[1:], torch.tensor([n]), True, True)
    s2, e2 = _core_streamed(both[0], both[1], n, True, True, chunk=chunk)
    assert s2 == pytest.approx(s1.item(), abs=1e-6)
    assert e2 == pytest.approx(e1.item(), abs=1e-6)


def test_blocked_resampling_equals_one_pass(speech: dict[str, np.ndarray]) -> None:
    from voiceobs.quality.stoi import _resample_to_10k, _resample_to_10k_blocks

    for fs in (8000, 16000, 44100):
        x = torch.tensor(_long(speech, 7, fs), dtype=torch.float64)
        whole = _resample_to_10k(x.float().unsqueeze(0), fs)[0]
        blocks = _resample_to_10k_blocks(x, fs, torch.float32, torch.device("cpu"), block=997)
        torch.testing.assert_close(blocks, whole, atol=1e-6, rtol=0)


@pytest.mark.slow
def test_long_item_is_streamed_and_matches_pystoi(speech: dict[str, np.ndarray]) -> None:
    from voiceobs.quality.stoi import _STREAM_FRAMES, HOP, resampled_length

    x = _long(speech, 110)
    assert resampled_length(x.size, 16000) // HOP > _STREAM_FRAMES  # really the streamed path
    y = degrade(x, "snr10")
    short_x, short_y = speech["short"], degrade(speech["short"], "snr0")
    # One long item among short ones: the short ones are padded only as far as their chunk.
    s, e = stoi_estoi_batch([short_x, x], [short_y, y], 16000)
    alone_s, alone_e = stoi_estoi_batch([short_x], [short_y], 16000)
    assert s[0].item() == alone_s.item() and e[0].item() == alone_e.item()
    ref_s = _reference([x], [y], 16000, ext=False)[0]
    ref_e = _reference([x], [y], 16000, ext=True)[0]
    assert s[1].item() == pytest.approx(ref_s, abs=1e-4)
    assert e[1].item() == pytest.approx(ref_e, abs=1e-4)


@pytest.mark.parametrize("extended", [False, True], ids=["stoi", "estoi"])
@pytest.mark.parametrize("fs", [8000, 16000])
def test_a_steady_tone_against_itself_scores_as_the_reference_does(fs: int, extended: bool) -> None:
    """Bands whose envelope is nearly constant must not divide rounding noise by a lost norm."""
    t = np.arange(fs * 3) / fs
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    got = float(stoi_batch([tone], [tone], fs, extended=extended)[0])
    want = pystoi(tone.astype(np.float64), tone.astype(np.float64), fs, extended=extended)
    assert abs(got - want) < 1e-3, (got, want)
