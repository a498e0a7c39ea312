"""Durations as people write them in specs and flags (``5m``, ``6h``, ``30d``, ``1h30m``).

One parser for SLO windows, alert windows, ``--since`` and Prometheus range
selectors means a window reads the same everywhere it appears.
"""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+)([wdhms])")
_WHOLE = re.compile(r"^(?:\d+[wdhms])+$")


def parse_duration(text: str) -> timedelta:
    """``"1h30m"`` -> 90 minutes; raise ValueError saying the accepted form."""
    value = str(text).strip().lower()
    if not _WHOLE.match(value):
        raise ValueError(f"invalid duration {text!r}; use e.g. 30s, 5m, 6h, 3d, 4w or 1h30m")
    seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(value))
    if seconds <= 0:
        raise ValueError(f"duration {text!r} must be longer than zero")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """The shortest exact spelling (``timedelta(hours=72)`` -> ``3d``), valid PromQL too.

    Sub-second remainders are dropped: every window voiceobs evaluates is a
    whole number of seconds.
    """
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return "0s"
    out = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        if seconds >= size:
            out.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(out)


__all__ = ["format_duration", "parse_duration"]
