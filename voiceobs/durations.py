"""Durations as people write them in specs and flags: ``500ms``, ``30s``, ``5m``, ``1h30m``, ``3d``.

One grammar for every duration voiceobs reads (SLO windows, burn-rate
windows, hook timeouts and backoffs, ``gate --since``, ``watch --interval``,
Prometheus range selectors) means a value that works in one place works in
all of them: one or more ``<number><unit>`` groups, units ``w d h m s ms``,
whole or decimal numbers (``1.5s``), or a bare number of seconds.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta

_UNITS = {"w": 604_800.0, "d": 86_400.0, "h": 3_600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|[wdhms])")
_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|[wdhms]))+$")
_BARE = re.compile(r"^\d+(?:\.\d+)?$")
#: Longest duration accepted anywhere (ten years): beyond it a value is a typo, not a window.
MAX_DURATION = timedelta(days=3650)
FORM = "e.g. 500ms, 30s, 5m, 6h, 3d, 4w or 1h30m"


def parse_duration(value: object, *, allow_zero: bool = False) -> timedelta:
    """``"1h30m"`` -> 90 minutes; raise ValueError saying the accepted form.

    A bare number (``5``, ``"2.5"``) is seconds, as in the hooks file. NaN,
    infinity, negatives and booleans are refused: a ``timeout: .nan`` that
    passed validation would fail every delivery at run time instead.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration; write {FORM}")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{value!r} is not a duration; write {FORM}")
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        if _BARE.match(text):
            seconds = float(text)
        elif _WHOLE.match(text):
            seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(text))
        else:
            raise ValueError(f"invalid duration {value!r}; write {FORM}")
    if seconds <= 0 and not (allow_zero and seconds == 0):
        raise ValueError(f"duration {value!r} must be longer than zero")
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"duration {value!r} is longer than ten years")
    return timedelta(seconds=seconds)


def parse_seconds(value: object, *, allow_zero: bool = False) -> float:
    """:func:`parse_duration` as float seconds, for timeouts and intervals."""
    return parse_duration(value, allow_zero=allow_zero).total_seconds()


def format_duration(delta: timedelta) -> str:
    """The shortest exact spelling (``timedelta(hours=72)`` -> ``3d``), valid PromQL too.

    Weeks are not used, so a window reads in days as SREs write them; a
    sub-second remainder is written in milliseconds.
    """
    ms = round(delta.total_seconds() * 1000)
    if ms <= 0:
        return "0s"
    out = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        if ms >= size:
            out.append(f"{ms // size}{unit}")
            ms %= size
    return "".join(out)


__all__ = ["FORM", "MAX_DURATION", "format_duration", "parse_duration", "parse_seconds"]
