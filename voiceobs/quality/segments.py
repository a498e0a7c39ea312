"""Long pairs cut at pauses into pieces PESQ can score, and the pieces' scores combined.

PESQ's C core can only hold :data:`~voiceobs.quality._pesq.PESQ_MAX_SECONDS`
of speech safely (its utterance table overflows past that), and ITU-T
P.862.3 asks for samples of 8 to 30 s with silence around the speech. So an
aligned pair longer than that is cut, at the same sample in both signals,
into pieces of about :data:`TARGET_SECONDS`. Each cut sits in the quietest
100 ms of the reference within :data:`SLACK_SECONDS` of where an even split
would put it, so it falls in a pause rather than through a word, and every
piece stays within the limit. A pair short enough is one piece: its score is
exactly what one PESQ call gives.

The pair's score is the mean of its pieces' scores weighted by each piece's
duration. A piece PESQ finds no utterance in (a pause between turns) has no
score and no weight; when no piece has a score, the most common reason among
them is the pair's.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from voiceobs.quality._pesq import PESQ_MAX_SECONDS

#: Length a long pair is split into, on average.
TARGET_SECONDS = 12.0
#: How far a cut may move from the even split to find a pause: two of these
#: plus a frame on top of the target stay under the PESQ limit.
SLACK_SECONDS = 1.4
_SMOOTH_FRAMES = 5  # 5 x 20 ms: a pause, not the gap between two syllables


def pesq_pieces(reference: np.ndarray, sample_rate: int) -> list[tuple[int, int]]:
    """``(start, stop)`` sample ranges covering ``reference``, none over the PESQ limit."""
    n = int(reference.shape[0])
    if n <= PESQ_MAX_SECONDS * sample_rate:
        return [(0, n)]
    count = math.ceil(n / (TARGET_SECONDS * sample_rate))
    frame = sample_rate // 50
    n_frames = n // frame
    framed = np.asarray(reference[: n_frames * frame]).reshape(n_frames, frame)
    energy = np.concatenate(
        [
            np.einsum("ij,ij->i", b, b)
            for b in (framed[i : i + 4096].astype(np.float64) for i in range(0, n_frames, 4096))
        ]
    )
    smooth = np.convolve(energy, np.ones(_SMOOTH_FRAMES), mode="same")
    slack = int(SLACK_SECONDS * sample_rate)
    cuts = [0]
    for k in range(1, count):
        target = round(k * n / count)
        lo = max(target - slack, 0) // frame
        hi = min(target + slack, n) // frame
        window = smooth[lo:hi]
        quietest = np.flatnonzero(window <= window.min())
        # Among equally quiet frames (a long pause) take the one nearest the even split.
        best = lo + int(quietest[np.argmin(np.abs((lo + quietest) * frame - target))])
        cuts.append(best * frame + frame // 2)
    cuts.append(n)
    return list(itertools.pairwise(cuts))


def combine(
    outcomes: Sequence[tuple[float | None, str | None]], lengths: Sequence[int]
) -> tuple[float | None, str | None]:
    """One ``(score, reason)`` from the pieces' outcomes, weighted by piece length."""
    if len(outcomes) == 1:
        return outcomes[0]
    scored = [(v, n) for (v, _), n in zip(outcomes, lengths, strict=True) if v is not None]
    if scored:
        total = sum(n for _, n in scored)
        return float(sum(v * n for v, n in scored) / total), None
    reasons = Counter(r or "pesq_failed" for _, r in outcomes)
    return None, reasons.most_common(1)[0][0]


__all__ = ["SLACK_SECONDS", "TARGET_SECONDS", "combine", "pesq_pieces"]
