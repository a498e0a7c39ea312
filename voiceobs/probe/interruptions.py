"""Where an interrupted reply ended: the one rule both the call (at the deadline) and the measure use.

Kept apart from :mod:`voiceobs.probe.dynamics` because the call applies it
while it runs (a reply still going at the barge-in deadline fails the turn
there and then) and the measures apply it afterwards; both must agree.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence


def interrupted_reply_end(
    rx_at: Sequence[float],
    rx_level: Sequence[float],
    threshold: float,
    *,
    start: float,
    caller_eos: float,
    link_s: float,
) -> int | None:
    """Index of the interrupted reply's last speech frame that arrived after ``start``, or None.

    The interrupted reply is the bot's speech going on from the interruption:
    every speech frame that arrives before the caller's interruption has
    ended (``caller_eos``), then any that follows the one before it by less
    than ``link_s``. Speech after a longer silence, past the interruption's
    end, is the bot's answer to it, not the reply it was asked to stop.
    """
    n = min(len(rx_at), len(rx_level))
    i = bisect.bisect_right(rx_at, start, 0, n)
    prev: float | None = None
    for j in range(i - 1, -1, -1):
        if rx_level[j] > threshold:
            prev = rx_at[j]
            break
    last: int | None = None
    for j in range(i, n):
        if rx_level[j] <= threshold:
            continue
        t = rx_at[j]
        if t <= caller_eos or (prev is not None and t - prev < link_s):
            last, prev = j, t
        else:
            break
    return last


__all__ = ["interrupted_reply_end"]
