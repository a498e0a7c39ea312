"""What the Prometheus exporter reads from the store: rows of the metric rollups, and the latest calls.

``voiceobs metrics serve`` answers scrapes from ``metric_rollups`` rows (kept
by the shared rollup refresh), so every read here is bounded whatever the
size of the store: one sum per row start since a minute, the rows of a few
starts, and one row's span of one series' calls for the freshness gauges.
The one read that sees the whole table, the latest row with calls of each
series, runs once, when the exporter starts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import SQLAlchemyError

from voiceobs.store import metric_rollups
from voiceobs.store.engine import translate_db_error
from voiceobs.store.filters import minute_start
from voiceobs.store.models import ProbeRun
from voiceobs.store.repository import Store

#: A series' label values in the exporter's order: probe, target, region, source, framework, service.
Key = tuple[str, str, str, str, str, str]
_T = TypeVar("_T")
_TABLE = metric_rollups.TABLE
_WIDTH = timedelta(minutes=metric_rollups.WIDTH)


@dataclass(frozen=True)
class RollupRow:
    """One row of one measure for one series: count, sum (stored units), cumulative bound counts."""

    n: int
    total: float
    le: tuple[int, ...]


def _read(store: Store, body: Callable[[Connection], _T]) -> _T:
    try:
        with store.engine.connect() as conn:
            return body(conn)
    except SQLAlchemyError as exc:
        raise translate_db_error(exc, store.url) from exc


def _key(dims: Iterable[Any]) -> Key:
    """``metric_rollups.DIMS`` order -> the exporter's label order."""
    source, probe, target, region, framework, service = (str(v or "") for v in dims)
    return (probe, target, region, source, framework, service)


def row_totals(store: Store, since: int) -> dict[int, int]:
    """Per row start from minute ``since`` on, the sum of its rows' counts: it grows when they do."""
    return _read(store, lambda conn: metric_rollups.row_totals(conn, since))


def rows_at(store: Store, starts: Iterable[int]) -> dict[int, dict[tuple[str, Key], RollupRow]]:
    """Every row starting at the given minutes, by start, then by (measure, series)."""
    wanted = list(starts)
    out: dict[int, dict[tuple[str, Key], RollupRow]] = {h: {} for h in wanted}

    def body(conn: Connection) -> None:
        for minute, measure, *rest in metric_rollups.rows_at(conn, wanted):
            *dims, n, total, le = rest
            out[int(minute)][(str(measure), _key(dims))] = RollupRow(
                int(n), float(total), tuple(json.loads(le))
            )

    if wanted:
        _read(store, body)
    return out


def latest_hours(store: Store) -> dict[Key, tuple[int | None, int | None]]:
    """Per series, the latest row start with a call and with a successful call (one scan)."""
    dims = [_TABLE.c[d] for d in metric_rollups.DIMS]
    q = (
        select(_TABLE.c.measure, *dims, func.max(_TABLE.c.minute))
        .where(_TABLE.c.measure.in_(["calls_ok", "calls_failed"]))
        .group_by(_TABLE.c.measure, *dims)
    )
    out: dict[Key, tuple[int | None, int | None]] = {}
    for measure, *rest in _read(store, lambda conn: list(conn.execute(q))):
        note_calls(out, _key(rest[:-1]), str(measure), int(rest[-1]))
    return out


def note_calls(latest: dict[Key, tuple[int | None, int | None]], key: Key, measure: str, at: int) -> None:
    """Move ``key``'s latest row with calls (and with successful ones) up to ``at``."""
    any_at, ok_at = latest.get(key, (None, None))
    latest[key] = (max(any_at or at, at), max(ok_at or at, at) if measure == "calls_ok" else ok_at)


def last_call_times(
    store: Store, key: Key, at: int | None, ok_at: int | None
) -> tuple[datetime | None, datetime | None]:
    """When the series' latest call, and its latest successful one, started.

    ``at`` and ``ok_at`` are the starts of the rows that hold them; the exact
    times are read from the raw calls of those rows' minutes (one index range
    each). Where retention has removed those, the row's start stands in.
    """
    probe, target, region, source, framework, service = key
    same = [ProbeRun.probe_name == probe, ProbeRun.target_url == target, ProbeRun.region == region,
            ProbeRun.source == source, ProbeRun.framework == framework, ProbeRun.service == service]  # fmt: skip

    def latest(conn: Connection, at: int | None, ok_only: bool) -> datetime | None:
        if at is None:
            return None
        start = minute_start(at)
        cond = [*same, ProbeRun.started_at >= start, ProbeRun.started_at < start + _WIDTH]
        if ok_only:
            cond.append(ProbeRun.status == "ok")
        got = conn.execute(select(func.max(ProbeRun.started_at)).where(*cond)).scalar()
        return _utc(got) if got is not None else start

    return _read(store, lambda conn: (latest(conn, at, False), latest(conn, ok_at, True)))


def _utc(value: Any) -> datetime:
    # Aggregates bypass the column type: SQLite returns text, both return naive UTC.
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


__all__ = ["Key", "RollupRow", "last_call_times", "latest_hours", "note_calls", "row_totals", "rows_at"]
