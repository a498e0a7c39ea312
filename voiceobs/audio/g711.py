"""ITU-T G.711 mu-law and A-law, vectorised with numpy.

Telephony bots speak 8 kHz G.711 (Twilio Media Streams carry mu-law), so a
probe and the codec pipeline must quantise exactly as a phone network does:
a near-G.711 curve (such as a continuous mu-law companding formula) gives
different codes and different quality scores. These functions reproduce the
segment/quantiser tables of the ITU reference implementation (the classic Sun
``g711.c``) bit for bit; encoding uses a 65536-entry lookup table built once
from the same integer arithmetic, so a 20 ms frame costs one ``take``.

Linear samples are 16-bit signed integers (``int16``); codes are ``uint8``.
"""

from __future__ import annotations

import numpy as np

_MU_BIAS = 0x84
_MU_CLIP = 8159
_MU_SEG_END = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)
_A_SEG_END = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], dtype=np.int32)


def _mulaw_encode_reference(pcm: np.ndarray) -> np.ndarray:
    """The reference integer algorithm, vectorised; used to build the table."""
    val = pcm.astype(np.int32) >> 2  # 16-bit -> 14-bit magnitude, arithmetic shift like C
    mask = np.where(val < 0, 0x7F, 0xFF)
    val = np.minimum(np.abs(val), _MU_CLIP) + (_MU_BIAS >> 2)
    seg = np.searchsorted(_MU_SEG_END, val, side="left")
    seg_c = np.minimum(seg, 7)
    uval = (seg_c << 4) | ((val >> (seg_c + 1)) & 0xF)
    uval = np.where(seg >= 8, 0x7F, uval)
    return (uval ^ mask).astype(np.uint8)


def _alaw_encode_reference(pcm: np.ndarray) -> np.ndarray:
    val = pcm.astype(np.int32) >> 3  # 16-bit -> 13-bit
    negative = val < 0
    mask = np.where(negative, 0x55, 0xD5)
    val = np.where(negative, -val - 1, val)
    seg = np.searchsorted(_A_SEG_END, val, side="left")
    seg_c = np.minimum(seg, 7)
    shift = np.where(seg_c < 2, 1, seg_c)
    aval = (seg_c << 4) | ((val >> shift) & 0xF)
    aval = np.where(seg >= 8, 0x7F, aval)
    return (aval ^ mask).astype(np.uint8)


def _mulaw_decode_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = ((u & 0x0F) << 3) + _MU_BIAS
    t = t << ((u & 0x70) >> 4)
    return np.where(u & 0x80, _MU_BIAS - t, t - _MU_BIAS).astype(np.int16)


def _alaw_decode_table() -> np.ndarray:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    t = np.where(seg == 0, t + 8, t + 0x108)
    t = np.where(seg > 1, t << np.maximum(seg - 1, 0), t)
    return np.where(a & 0x80, t, -t).astype(np.int16)


_ALL_INT16 = np.arange(-32768, 32768, dtype=np.int32)
_MU_ENC = _mulaw_encode_reference(_ALL_INT16)
_A_ENC = _alaw_encode_reference(_ALL_INT16)
_MU_DEC = _mulaw_decode_table()
_A_DEC = _alaw_decode_table()


def _as_int16(pcm: np.ndarray) -> np.ndarray:
    arr = np.asarray(pcm)
    if arr.dtype != np.int16:
        raise TypeError(
            f"G.711 encodes int16 samples, got {arr.dtype}; convert with float_to_int16()"
        )
    return arr


def _as_codes(codes: np.ndarray | bytes) -> np.ndarray:
    if isinstance(codes, bytes | bytearray | memoryview):
        return np.frombuffer(codes, dtype=np.uint8)
    arr = np.asarray(codes)
    if arr.dtype != np.uint8:
        raise TypeError(f"G.711 codes are uint8, got {arr.dtype}")
    return arr


def mulaw_encode(pcm: np.ndarray) -> np.ndarray:
    """Encode int16 linear samples to G.711 mu-law codes (uint8)."""
    return _MU_ENC[_as_int16(pcm).astype(np.int32) + 32768]


def mulaw_decode(codes: np.ndarray | bytes) -> np.ndarray:
    """Decode G.711 mu-law codes (uint8 array or bytes) to int16 linear samples."""
    return _MU_DEC[_as_codes(codes)]


def alaw_encode(pcm: np.ndarray) -> np.ndarray:
    """Encode int16 linear samples to G.711 A-law codes (uint8, even bits inverted)."""
    return _A_ENC[_as_int16(pcm).astype(np.int32) + 32768]


def alaw_decode(codes: np.ndarray | bytes) -> np.ndarray:
    """Decode G.711 A-law codes (uint8 array or bytes) to int16 linear samples."""
    return _A_DEC[_as_codes(codes)]


def float_to_int16(audio: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] to int16, clipped (no wrap-around on overload)."""
    scaled = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0) * 32767.0
    return np.round(scaled).astype(np.int16)


def int16_to_float(pcm: np.ndarray) -> np.ndarray:
    """int16 samples to float32 in [-1, 1)."""
    return np.asarray(pcm, dtype=np.int16).astype(np.float32) / 32768.0


__all__ = [
    "alaw_decode",
    "alaw_encode",
    "float_to_int16",
    "int16_to_float",
    "mulaw_decode",
    "mulaw_encode",
]
