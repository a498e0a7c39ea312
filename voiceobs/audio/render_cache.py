"""The on-disk cache of speech renders: validated on the way in and on the way out.

A render that enters the cache is reused by every later run, so a bad one
does lasting harm: with the disk nearly full espeak-ng wrote a partial WAV,
exited 0, and the 0.09 s stub was served for good instead of the 3.6 s
prompt. Three rules keep that from happening again:

* a render is checked before it is written (:func:`check_render`): it must
  have signal and last at least a fraction of what its words need at the
  voice's speaking rate;
* it is written atomically (temp file in the cache folder, fsync, rename),
  and a full disk is reported as such, so no partial file ever has the
  cache's name;
* an entry is checked again when read (:func:`read_entry`): the RIFF header
  must parse and agree with the file's size, and the duration must pass the
  same bound. A bad entry (left by an older version, or damaged on disk) is
  removed and rendered again rather than served.

Entries are 16-bit mono PCM WAV at the engine's native rate.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import struct
import tempfile
from pathlib import Path

import numpy as np

from voiceobs.errors import AudioError

log = logging.getLogger(__name__)

#: The shortest plausible render, as a fraction of the time its words take at the
#: voice's rate. Measured on the agent's replies and phrases, espeak-ng at 80-500
#: words/min and hibari at every speed it offers render no less than 0.7 of that
#: time; half of the smallest still catches a cut render by a wide margin.
MIN_DURATION_FRACTION = 0.35

_WORD = re.compile(r"[^\W_]+")
_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")
HEADER_BYTES = _HEADER.size  # 44: RIFF, fmt (16 bytes of PCM format) and the data chunk header


class BadEntry(Exception):
    """A cache file that must not be served (the message says why)."""


def min_duration_s(text: str, words_per_minute: int) -> float:
    """The shortest a render of ``text`` may plausibly be at ``words_per_minute``."""
    words = len(_WORD.findall(text))
    return MIN_DURATION_FRACTION * words * 60.0 / max(1, words_per_minute)


def check_render(pcm: np.ndarray, rate: int, text: str, words_per_minute: int) -> str | None:
    """Why ``pcm`` is not a usable render of ``text`` (None when it is)."""
    if pcm.size == 0:
        return "it produced no audio"
    if not np.any(pcm):
        return "it produced only silence"
    duration = pcm.size / rate
    floor = min_duration_s(text, words_per_minute)
    if duration < floor:
        return (
            f"it produced {duration:.2f} s of audio where {len(_WORD.findall(text))} word(s) "
            f"need at least {floor:.2f} s (the render was cut short)"
        )
    return None


def wav_bytes(pcm: np.ndarray, rate: int) -> bytes:
    """A canonical 44-byte-header WAV of int16 mono samples."""
    data = np.asarray(pcm, dtype="<i2").tobytes()
    header = _HEADER.pack(
        b"RIFF",
        36 + len(data),
        b"WAVE",
        b"fmt ",
        16,
        1,
        1,
        rate,
        rate * 2,
        2,
        16,
        b"data",
        len(data),
    )
    return header + data


def parse_wav(blob: bytes) -> tuple[np.ndarray, int]:
    """Samples and rate of a cache entry; :class:`BadEntry` if header and size disagree."""
    if len(blob) < HEADER_BYTES:
        raise BadEntry(f"{len(blob)} bytes is shorter than a WAV header")
    (
        riff,
        riff_size,
        wave,
        fmt,
        fmt_size,
        codec,
        channels,
        rate,
        byte_rate,
        align,
        bits,
        data,
        size,
    ) = _HEADER.unpack_from(blob)
    if (riff, wave, fmt, data) != (b"RIFF", b"WAVE", b"fmt ", b"data"):
        raise BadEntry("not a canonical WAV file")
    if (fmt_size, codec, channels, bits, align) != (16, 1, 1, 16, 2) or byte_rate != rate * 2:
        raise BadEntry("not 16-bit mono PCM")
    if not 1000 <= rate <= 384_000:
        raise BadEntry(f"implausible sample rate {rate}")
    actual = len(blob) - HEADER_BYTES
    if size != actual or riff_size != 36 + actual:
        raise BadEntry(f"header says {size} bytes of samples, the file has {actual} (truncated?)")
    return np.frombuffer(blob, dtype="<i2", offset=HEADER_BYTES), rate


def read_entry(path: Path, text: str, words_per_minute: int) -> tuple[np.ndarray, int] | None:
    """A valid entry's samples and rate; None when absent or bad (a bad one is removed)."""
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AudioError(
            f"cannot read the speech cache entry {path} ({exc.strerror or exc}); "
            "check its permissions or set VOICEOBS_TTS_CACHE"
        ) from None
    try:
        pcm, rate = parse_wav(blob)
        problem = check_render(pcm, rate, text, words_per_minute)
        if problem is not None:
            raise BadEntry(problem)
    except BadEntry as exc:
        log.warning("speech cache entry %s is unusable (%s); rendering it again", path, exc)
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as unlink_exc:
            raise AudioError(
                f"the speech cache entry {path} is damaged ({exc}) and cannot be removed "
                f"({unlink_exc.strerror or unlink_exc}); delete it by hand"
            ) from None
        return None
    return pcm, rate


def disk_error(exc: OSError, folder: Path) -> AudioError:
    """A one-line error for a failed cache write that says what to fix."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return AudioError(
            f"no space left on {folder}; free disk space there (or point VOICEOBS_TTS_CACHE "
            "at another disk) and run again"
        )
    return AudioError(
        f"cannot write the speech cache in {folder} ({exc.strerror or exc}); "
        "make it writable or set VOICEOBS_TTS_CACHE"
    )


def write_entry(path: Path, pcm: np.ndarray, rate: int) -> None:
    """Write an entry atomically: a reader sees the whole file or none."""
    folder = path.parent
    tmp: str | None = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.stem + ".", suffix=".part", dir=folder)
        with os.fdopen(fd, "wb") as f:
            f.write(wav_bytes(pcm, rate))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
        _fsync_dir(folder)
    except OSError as exc:
        raise disk_error(exc, folder) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; some filesystems refuse a directory fsync.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


__all__ = [
    "HEADER_BYTES",
    "MIN_DURATION_FRACTION",
    "BadEntry",
    "check_render",
    "disk_error",
    "min_duration_s",
    "parse_wav",
    "read_entry",
    "wav_bytes",
    "write_entry",
]
