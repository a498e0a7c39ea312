"""Hourly counts for the Prometheus exporter, kept by the same refresh as every other rollup.

A Prometheus histogram is a set of counters at fixed ``le`` bounds, so the
exporter needs, per label set, exact counts at exactly those bounds: the
dashboard's log-spaced histograms (``histograms.py``) cannot be regrouped
into them. Each row here holds one hour of one measure for one series (all
six labels the exporter writes):

* a histogram measure (``voiceobs.measures.EXPORTED_MEASURES``): ``n`` and
  ``total``, the count and sum of the successful turns that took it (stored
  units), and ``le``, a JSON list of cumulative counts, one per bucket bound;
* a count: ``calls_ok`` / ``calls_failed`` (calls by their own start) and
  ``turns_ok`` / ``turns_failed`` (turns by their call's outcome), ``n`` only.

An hour is recomputed from the raw rows whenever the refresh finds it dirty
(new or late turns, the trailing minutes), so recomputing twice is harmless
and a transaction that commits out of id order is still counted (the
refresh re-reads the last ``rollups.ID_OVERLAP`` ids). The exporter turns
the rows into counters that only grow (``voiceobs.metrics``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Select, Table, and_, case, delete, func, insert, select

from voiceobs.measures import EXPORTED_MEASURES, measure
from voiceobs.store.filters import epoch_seconds, minute_start
from voiceobs.store.models import MetricRollup, ProbeRun, Turn

TABLE: Table = MetricRollup.__table__  # type: ignore[assignment]
TURNS: Table = Turn.__table__  # type: ignore[assignment]
RUNS: Table = ProbeRun.__table__  # type: ignore[assignment]

#: The labels of every exported series, as store columns.
DIMS: tuple[str, ...] = ("source", "probe_name", "target_url", "region", "framework", "service")
#: Bucket bounds per histogram measure, in stored units (what the rows are counted at).
BOUNDS: dict[str, tuple[float, ...]] = {
    name: tuple(b * measure(name).scale for b in measure(name).buckets) for name in EXPORTED_MEASURES
}
#: The counts kept: ``n`` is all a row of these holds.
COUNTS: tuple[str, ...] = ("calls_ok", "calls_failed", "turns_ok", "turns_failed")
#: Every measure a row may hold.
MEASURES: tuple[str, ...] = (*BOUNDS, *COUNTS)
#: Rows cover an hour: ``minute`` is always a multiple of this.
HOUR = 60
_INSERT_CHUNK = 2000


def definition() -> str:
    """What the rows mean; a change (other bounds, measures) makes the refresh rebuild them."""
    return json.dumps({"bounds": BOUNDS, "counts": COUNTS, "dims": DIMS, "width": HOUR})


def _hour_of(table: Table, dialect: str) -> Any:
    return epoch_seconds(table.c.started_at, dialect) // 3600 * HOUR


def recompute(conn: Connection, dialect: str, start: int | None, end: int | None) -> int | None:
    """Replace the rows of every hour touching minutes ``[start, end)`` (None: unbounded).

    Returns the last hour written (its first minute; None when nothing was).
    """
    lo = None if start is None else start // HOUR * HOUR
    hi = None if end is None else -(-end // HOUR) * HOUR
    cond = []
    if lo is not None:
        cond.append(TABLE.c.minute >= lo)
    if hi is not None:
        cond.append(TABLE.c.minute < hi)
    conn.execute(delete(TABLE).where(*cond))
    rows = [*_turn_rows(conn, dialect, lo, hi), *_call_rows(conn, dialect, lo, hi)]
    for i in range(0, len(rows), _INSERT_CHUNK):
        conn.execute(insert(TABLE), rows[i : i + _INSERT_CHUNK])
    return max((r["minute"] for r in rows), default=None)


def _between(table: Table, lo: int | None, hi: int | None) -> list[Any]:
    cond = []
    if lo is not None:
        cond.append(table.c.started_at >= minute_start(lo))
    if hi is not None:
        cond.append(table.c.started_at < minute_start(hi))
    return cond


@functools.cache
def _turn_select(dialect: str) -> Select[Any]:
    # A few hundred CASE expressions: built once, so a refresh pays only for the SQL.
    hour = _hour_of(TURNS, dialect)
    dims = [TURNS.c[d] for d in DIMS]
    ok = TURNS.c.ok.is_(True)
    cols: list[Any] = [func.count(), func.sum(case((ok, 1), else_=0))]
    for name, bounds in BOUNDS.items():
        col = TURNS.c[name]
        taken = and_(ok, col.is_not(None))
        cols.append(func.sum(case((taken, 1), else_=0)))
        cols.append(func.sum(case((taken, col), else_=0.0)))
        cols += [func.sum(case((and_(taken, col <= b), 1), else_=0)) for b in bounds]
    return select(hour.label("hour"), *dims, *cols).group_by("hour", *dims)


def _turn_rows(conn: Connection, dialect: str, lo: int | None, hi: int | None) -> Iterator[dict[str, Any]]:
    """One pass over the turns of the hours: every measure's count, sum and bound counts."""
    q = _turn_select(dialect).where(*_between(TURNS, lo, hi))
    for hour_value, *rest in conn.execute(q):
        key = _key(int(hour_value), rest[: len(DIMS)])
        total, n_ok, *per_measure = rest[len(DIMS) :]
        yield from _count_rows(key, {"turns_ok": int(n_ok or 0), "turns_failed": int(total) - int(n_ok or 0)})
        for name, bounds in BOUNDS.items():
            n, value_sum, *le = per_measure[: 2 + len(bounds)]
            per_measure = per_measure[2 + len(bounds) :]
            if n:
                yield {**key, "measure": name, "n": int(n), "total": float(value_sum or 0.0),
                       "le": json.dumps([int(c or 0) for c in le], separators=(",", ":"))}  # fmt: skip


def _call_rows(conn: Connection, dialect: str, lo: int | None, hi: int | None) -> Iterator[dict[str, Any]]:
    hour = _hour_of(RUNS, dialect)
    dims = [RUNS.c[d] for d in DIMS]
    q = select(hour.label("hour"), *dims, func.count(), func.sum(case((RUNS.c.status == "ok", 1), else_=0)))
    for hour_value, *rest in conn.execute(q.where(*_between(RUNS, lo, hi)).group_by("hour", *dims)):
        key = _key(int(hour_value), rest[: len(DIMS)])
        total, n_ok = int(rest[-2]), int(rest[-1] or 0)
        yield from _count_rows(key, {"calls_ok": n_ok, "calls_failed": total - n_ok})


def _key(hour: int, dims: Sequence[Any]) -> dict[str, Any]:
    return {"minute": hour, **{d: str(v or "") for d, v in zip(DIMS, dims, strict=True)}}


def _count_rows(key: dict[str, Any], counts: dict[str, int]) -> Iterator[dict[str, Any]]:
    for name, n in counts.items():
        if n:
            yield {**key, "measure": name, "n": n, "total": 0.0, "le": "[]"}


def hour_totals(conn: Connection, since: int) -> dict[int, int]:
    """Each hour from ``since`` on: the sum of its rows' ``n``, which grows whenever the hour does."""
    q = select(TABLE.c.minute, func.sum(TABLE.c.n)).where(TABLE.c.minute >= since)
    return {int(m): int(n or 0) for m, n in conn.execute(q.group_by(TABLE.c.minute))}


def hour_rows(conn: Connection, hours: Iterable[int]) -> Iterator[Any]:
    """Rows ``(minute, measure, *DIMS, n, total, le)`` of the given hours."""
    wanted = sorted(set(hours))
    cols = [TABLE.c.minute, TABLE.c.measure, *[TABLE.c[d] for d in DIMS], TABLE.c.n, TABLE.c.total, TABLE.c.le]
    for i in range(0, len(wanted), 200):
        yield from conn.execute(select(*cols).where(TABLE.c.minute.in_(wanted[i : i + 200])))


__all__ = ["BOUNDS", "COUNTS", "DIMS", "HOUR", "MEASURES", "TABLE", "definition", "hour_rows", "hour_totals", "recompute"]
