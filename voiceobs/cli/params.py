"""Click parameter types shared by every command, so a flag reads the same everywhere.

``--since 1h30m`` and ``--interval 500ms`` take one duration grammar
(``voiceobs.durations``), and numeric flags refuse NaN and infinity, which
click's own FLOAT type lets through.
"""

from __future__ import annotations

import contextlib
import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from voiceobs.durations import parse_duration
from voiceobs.errors import ConfigError


class Duration(click.ParamType):
    """A duration flag (``30s``, ``5m``, ``1h30m``, ``500ms``), converted to ``timedelta``."""

    name = "duration"

    def __init__(self, *, allow_zero: bool = False) -> None:
        self.allow_zero = allow_zero

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> timedelta:
        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration(value, allow_zero=self.allow_zero)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


_SIZE_UNITS = {
    "": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3,
    "gb": 1000**3, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30,
}  # fmt: skip


class ByteSize(click.ParamType):
    """A size flag in bytes: ``1048576``, ``512KiB``, ``16MiB``, ``1GiB`` (or KB, MB, GB)."""

    name = "size"

    def __init__(self, *, min: int = 1) -> None:
        self.min = min

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            size = value
        else:
            text = str(value).strip().lower().replace(" ", "")
            number = text.rstrip("kmgib")
            unit = text[len(number) :]
            if not number.isdigit() or unit not in _SIZE_UNITS:
                self.fail(
                    f"{value!r} is not a size; write e.g. 1048576, 512KiB, 16MiB or 1GiB",
                    param,
                    ctx,
                )
            size = int(number) * _SIZE_UNITS[unit]
        if size < self.min:
            self.fail(f"{value!r} is below the minimum of {self.min} bytes", param, ctx)
        return size


class FiniteFloat(click.ParamType):
    """A float flag that refuses NaN and infinity, optionally bounded."""

    name = "number"

    def __init__(self, min: float | None = None, max: float | None = None) -> None:
        self.min = min
        self.max = max

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
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


def check_output_path(path: str | Path, flag: str) -> Path:
    """Refuse an output path that cannot be written, before any work starts.

    A gate that computes its verdict and then fails to write ``--junit``
    would exit with an error code CI reads as "breached"; a report that
    takes minutes must not be lost at the last step. So the file is opened
    for appending (creating nothing that was not there) and closed again.
    """
    where = Path(path)
    existed = where.exists()
    try:
        if where.is_dir():
            raise IsADirectoryError(21, "is a directory")
        with where.open("a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise ConfigError(f"{flag}: cannot write {where}: {exc.strerror or exc}") from None
    if not existed:
        with contextlib.suppress(OSError):
            where.unlink()
    return where


def write_output(path: Path, text: str, *, flag: str, append: bool = False) -> None:
    """Write an output file, turning a failure (disk full, file removed) into a one-line error."""
    try:
        with path.open("a" if append else "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise ConfigError(f"{flag}: cannot write {path}: {exc.strerror or exc}") from None


DURATION = Duration()


class CountOrAuto(click.ParamType):
    """A count flag that also takes ``auto`` (returned as None: the command picks for the host)."""

    name = "count|auto"

    def __init__(self, *, min: int = 0) -> None:
        self.min = min

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> int | None:
        if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
            return None
        try:
            count = int(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a whole number or 'auto'", param, ctx)
        if count < self.min:
            self.fail(f"{value!r} is below the minimum of {self.min}", param, ctx)
        return count


__all__ = [
    "DURATION",
    "ByteSize",
    "CountOrAuto",
    "Duration",
    "FiniteFloat",
    "check_output_path",
    "write_output",
]
