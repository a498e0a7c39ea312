"""G.711 mu-law: the known codes, every sample against audioop, int16 only."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from voiceobs.audio.g711 import alaw_decode, alaw_encode, mulaw_decode, mulaw_encode


def test_g711_known_codes() -> None:
    assert mulaw_decode(np.array([0x00, 0x80, 0xFF], np.uint8)).tolist() == [-32124, 32124, 0]
    assert alaw_decode(np.array([0xD5, 0x55, 0xAA, 0x2A], np.uint8)).tolist() == [
        8, -8, 32256, -32256,
    ]  # fmt: skip
    assert mulaw_encode(np.array([0, -1, 32767, -32768], np.int16)).tolist() == [255, 126, 128, 0]


def test_g711_matches_audioop_over_every_sample() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")
    x = np.arange(-32768, 32768, dtype=np.int16)
    assert np.array_equal(
        np.frombuffer(audioop.lin2ulaw(x.tobytes(), 2), np.uint8), mulaw_encode(x)
    )
    assert np.array_equal(np.frombuffer(audioop.lin2alaw(x.tobytes(), 2), np.uint8), alaw_encode(x))
    codes = np.arange(256, dtype=np.uint8).tobytes()
    assert np.array_equal(np.frombuffer(audioop.ulaw2lin(codes, 2), np.int16), mulaw_decode(codes))
    assert np.array_equal(np.frombuffer(audioop.alaw2lin(codes, 2), np.int16), alaw_decode(codes))


def test_g711_rejects_float_input() -> None:
    with pytest.raises(TypeError, match="int16"):
        mulaw_encode(np.zeros(4, np.float32))
