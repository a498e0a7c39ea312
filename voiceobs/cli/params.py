"""Click parameter types shared by every command, so a flag reads the same everywhere.

``--since 1h30m`` and ``--interval 500ms`` take one duration grammar
(``voiceobs.durations``), and numeric flags refuse NaN and infinity, which
click's own FLOAT type lets through.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import click

from voiceobs.durations import parse_duration


class Duration(click.ParamType):
    """A duration flag (``30s``, ``5m``, ``1h30m``, ``500ms``), converted to ``timedelta``."""

    name = "duration"

    def __init__(self, *, allow_zero: bool = False) -> None:
        self.allow_zero = allow_zero

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> timedelta:
        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration(value, allow_zero=self.allow_zero)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class FiniteFloat(click.ParamType):
    """A float flag that refuses NaN and infinity, optionally bounded."""

    name = "number"

    def __init__(self, min: float | None = None, max: float | None = None) -> None:
        self.min = min
        self.max = max

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        if self.min is not None and number < self.min:
            self.fail(f"{value!r} is below the minimum {self.min:g}", param, ctx)
        if self.max is not None and number > self.max:
            self.fail(f"{value!r} is above the maximum {self.max:g}", param, ctx)
        return number


DURATION = Duration()

__all__ = ["DURATION", "Duration", "FiniteFloat"]
