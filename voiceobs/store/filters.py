"""The filters and time arithmetic every reader of the store shares, written once for both backends.

Listing runs, drawing the dashboard and counting SLIs all select rows by
time range, probe, target, region and source, and all cut time into seconds or
minutes. When each reader wrote its own, one truncated fractional seconds
and one rounded them, so a turn at 12:00:59.9999 could land in different
minutes on different pages. Here both are defined once, and a test checks
that SQLite and PostgreSQL put the same rows in the same buckets.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import BigInteger, ColumnElement, cast, extract, func
from sqlalchemy.sql import Select

S = TypeVar("S", bound=Select[Any])

_SQLITE_HAS_UNIXEPOCH = sqlite3.sqlite_version_info >= (3, 38, 0)


def where_runs(
    q: S,
    model: Any,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    probe: str | None = None,
    target: str | None = None,
    region: str | None = None,
    source: str | None = None,
) -> S:
    """Restrict ``q`` to rows of ``model`` (runs or turns) in ``[since, until)`` and matching filters.

    ``source`` is ``synthetic`` (probe calls) or ``production`` (real callers' calls).

    Empty strings and None mean "any", so a form's unset drop-down needs no
    special case. Served by the ``(column, started_at)`` indexes.
    """
    if since is not None:
        q = q.where(model.started_at >= since)
    if until is not None:
        q = q.where(model.started_at < until)
    if probe:
        q = q.where(model.probe_name == probe)
    if target:
        q = q.where(model.target_url == target)
    if region:
        q = q.where(model.region == region)
    if source:
        q = q.where(model.source == source)
    return q


def epoch_seconds(column: Any, dialect: str) -> ColumnElement[int]:
    """Whole seconds since 1970 (UTC) of a timestamp column: truncated, never rounded.

    SQLite keeps naive UTC text ``YYYY-MM-DD HH:MM:SS.ffffff`` and its date
    functions round the fraction (``23:59:59.9999`` would become the next
    day), so the fraction is cut off before conversion.
    """
    if dialect == "sqlite":
        whole = func.substr(column, 1, 19)
        # unixepoch() (SQLite 3.38+) is about twice as fast per row as strftime('%s').
        if _SQLITE_HAS_UNIXEPOCH:
            return cast(func.unixepoch(whole), BigInteger)
        return cast(func.strftime("%s", whole), BigInteger)
    return cast(func.floor(extract("epoch", column)), BigInteger)


def minute_of(column: Any, dialect: str) -> ColumnElement[int]:
    """Whole minutes since 1970 (UTC) of a timestamp column."""
    return epoch_seconds(column, dialect) // 60


def minute_start(minute: int) -> datetime:
    """The instant a minute number begins."""
    return datetime.fromtimestamp(minute * 60, UTC)


def floor_minute(at: datetime) -> int:
    """The minute number containing ``at``."""
    return int(at.timestamp() // 60)


def ceil_minute(at: datetime) -> int:
    """The first minute number starting at or after ``at``."""
    return -int(-at.timestamp() // 60)


__all__ = [
    "ceil_minute",
    "epoch_seconds",
    "floor_minute",
    "minute_of",
    "minute_start",
    "where_runs",
]
