"""PESQ (ITU-T P.862 / P.862.2) through the ``pesq`` package, made safe to call.

The reference C code is the oracle the industry quotes, so it is used as is;
what this module adds is the guarding a monitoring tool needs. The package
prints its usage text and raises for a bad rate or mode (so both are
checked before calling), its C core ``printf``s error messages to stdout
(so stdout is pointed at /dev/null around the call), it raises for
recordings with no utterance or too short a buffer, and it can return NaN
or an out-of-range value: each becomes a ``None`` score with a reason.

The C core also keeps its utterances in fixed tables of 50
(``MAXNUTTERANCES``) and never checks the bound while filling them: a
reference with more than 50 speech bursts writes past the table, which
gives a wrong score or kills the process with SIGSEGV (espeak-ng speech
passes 50 utterances at about 80 s, and the process died from 100 s on). Its VAD joins bursts less than 200 ms apart and
counts only bursts of about 200 ms, so utterances come at most every 0.39 s
and 50 of them need 19.4 s; the densest input found (190 ms tone bursts
210 ms apart) gives 38 in 15 s. So the C core is given at most
:data:`PESQ_MAX_SECONDS`, and longer pairs are refused here
(``too_long``): :mod:`voiceobs.quality.segments` cuts them at pauses first.

Batches run in worker processes: the C code holds the GIL for the whole
call, so threads would not help.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np

#: Longest pair handed to the C core; see the module docstring for why 15 s is safe.
PESQ_MAX_SECONDS = 15.0

#: PESQ's MOS-LQO lies in about [1.0, 4.65] (wide-band) and [-0.5, 4.5] (narrow-band raw).
_VALID_RANGE = (-0.5, 4.65)

_stdout_lock = threading.Lock()

try:
    _libc: ctypes.CDLL | None = ctypes.CDLL(None)
except OSError:  # pragma: no cover - non-POSIX
    _libc = None


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Send file descriptor 1 to /dev/null for the duration (C ``printf`` included).

    Held under a lock: the descriptor is process-wide, so two overlapping
    redirections would restore each other's state in the wrong order.
    """
    with _stdout_lock:
        sys.stdout.flush()
        if _libc is not None:
            _libc.fflush(None)
        try:
            saved = os.dup(1)
        except OSError:  # no stdout at all (daemonised): nothing to protect
            yield
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 1)
            yield
        finally:
            if _libc is not None:
                _libc.fflush(None)
            os.dup2(saved, 1)
            os.close(saved)
            os.close(devnull)


def pesq_score(
    reference: np.ndarray, degraded: np.ndarray, sample_rate: int, mode: str
) -> tuple[float | None, str | None]:
    """PESQ of one aligned pair at 8 kHz (``nb``) or 16 kHz (``wb``).

    Returns ``(score, None)`` or ``(None, reason)``; never raises for bad
    audio and never returns NaN.
    """
    if (mode, sample_rate) not in (("wb", 16000), ("nb", 8000), ("nb", 16000)):
        return None, "unsupported_rate"
    from pesq import BufferTooShortError, NoUtterancesError, PesqError, pesq

    ref = np.asarray(reference, dtype=np.float64)
    deg = np.asarray(degraded, dtype=np.float64)
    n = min(ref.shape[0], deg.shape[0])
    ref, deg = ref[:n], deg[:n]
    if n == 0:
        return None, "too_short"
    if n > PESQ_MAX_SECONDS * sample_rate:
        return None, "too_long"  # would overflow the C core's utterance table
    if not (np.all(np.isfinite(ref)) and np.all(np.isfinite(deg))):
        return None, "invalid_samples"
    if not np.any(ref) or not np.any(deg):
        return None, "no_speech"
    try:
        with quiet_stdout():
            value = pesq(sample_rate, ref, deg, mode)
    except BufferTooShortError:
        return None, "too_short"
    except NoUtterancesError:
        return None, "no_speech"
    except (PesqError, ValueError, MemoryError):
        return None, "pesq_failed"
    value = float(value)
    if not np.isfinite(value) or not (_VALID_RANGE[0] <= value <= _VALID_RANGE[1]):
        return None, "pesq_invalid"
    return value, None


def _pesq_job(args: tuple[np.ndarray, np.ndarray, int, str]) -> tuple[float | None, str | None]:
    return pesq_score(*args)


def pesq_many(
    jobs: Sequence[tuple[np.ndarray, np.ndarray, int, str]], workers: int | None = None
) -> list[tuple[float | None, str | None]]:
    """Score many ``(reference, degraded, rate, mode)`` jobs across processes.

    Forked workers start in milliseconds and import nothing; they run only
    the C code, so torch's thread pools in the parent do not matter. Two
    jobs or fewer (one pair's wide- and narrow-band scores) run here: a
    pool would cost more than it saves.
    """
    workers = min(workers or os.cpu_count() or 1, len(jobs))
    if workers <= 1 or len(jobs) <= 2:
        return [pesq_score(*job) for job in jobs]
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        chunk = max(1, len(jobs) // (workers * 4))
        return list(pool.map(_pesq_job, jobs, chunksize=chunk))


__all__ = ["PESQ_MAX_SECONDS", "pesq_many", "pesq_score", "quiet_stdout"]
