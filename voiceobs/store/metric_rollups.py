"""Counts per quarter hour for the Prometheus exporter, kept by the same refresh as every other rollup.

A Prometheus histogram is a set of counters at fixed ``le`` bounds, so the
exporter needs, per label set, exact counts at exactly those bounds: the
dashboard's log-spaced histograms (``histograms.py``) cannot be regrouped
into them. Each row here holds ``WIDTH`` (15) minutes of one measure for one
series (all six labels the exporter writes):

* a histogram measure (``voiceobs.measures.EXPORTED_MEASURES``): ``n`` and
  ``total``, the count and sum of the successful turns that took it (stored
  units), and ``le``, a JSON list of cumulative counts, one per bucket bound;
* a count: ``calls_ok`` / ``calls_failed`` (calls by their own start) and
  ``turns_ok`` / ``turns_failed`` (turns by their call's outcome), ``n`` only.

A row is recomputed from the raw rows whenever the refresh finds one of its
minutes dirty (new or late turns, the trailing minutes), so twice is harmless
and a transaction that commits out of id order is still counted (the
refresh re-reads the last ``rollups.ID_OVERLAP`` ids). The exporter turns
the rows into counters that only grow (``voiceobs.metrics``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    Connection,
    Integer,
    Table,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    union_all,
)

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
#: Rows cover this many minutes: ``minute`` is always a multiple of it. Short enough that a
#: refresh recomputes little (the trailing minutes' row), long enough that a week is few rows.
WIDTH = 15
_INSERT_CHUNK = 2000


def definition() -> str:
    """What the rows mean; a change (other bounds, measures) makes the refresh rebuild them."""
    return json.dumps({"bounds": BOUNDS, "counts": COUNTS, "dims": DIMS, "width": WIDTH})


def _row_start(table: Table, dialect: str) -> Any:
    return epoch_seconds(table.c.started_at, dialect) // (60 * WIDTH) * WIDTH


def recompute(conn: Connection, dialect: str, start: int | None, end: int | None) -> int | None:
    """Replace the rows touching minutes ``[start, end)`` (None: unbounded) from the raw rows.

    Returns the first minute of the last row written (None when nothing was).
    """
    lo = None if start is None else start // WIDTH * WIDTH
    hi = None if end is None else -(-end // WIDTH) * WIDTH
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


def _between(table: Table, lo: bool, hi: bool) -> list[Any]:
    # Bound parameters, not literals: each statement is built and compiled once, then reused.
    cond = []
    if lo:
        cond.append(table.c.started_at >= bindparam("lo"))
    if hi:
        cond.append(table.c.started_at < bindparam("hi"))
    return cond


def _params(lo: int | None, hi: int | None) -> dict[str, Any]:
    return {k: minute_start(v) for k, v in (("lo", lo), ("hi", hi)) if v is not None}


@functools.cache
def _turn_query(dialect: str, lo: bool, hi: bool) -> CompoundSelect:
    """The turns of a range grouped by measure, row, series and bound slot: one statement, built once."""
    at = _row_start(TURNS, dialect).label("at")
    dims = [TURNS.c[d] for d in DIMS]
    ok = TURNS.c.ok.is_(True)
    # slot is 1 for a successful call's turn, 0 for a failed one's.
    branches = [
        select(literal("turns").label("measure"), at, *dims, cast(ok, Integer).label("slot"),
               func.count().label("n"), literal(0.0).label("s"))
        .where(*_between(TURNS, lo, hi)).group_by("at", *dims, "slot")
    ]  # fmt: skip
    for name, bounds in BOUNDS.items():
        col = TURNS.c[name]
        # The first bound the value is under (one CASE, evaluated until it matches).
        slot = case(*[(col <= b, i) for i, b in enumerate(bounds)], else_=len(bounds)).label("slot")
        q = select(literal(name).label("measure"), at, *dims, slot, func.count().label("n"),
                   func.sum(col).label("s")).where(ok, col.is_not(None), *_between(TURNS, lo, hi))  # fmt: skip
        branches.append(q.group_by("at", *dims, "slot"))
    return union_all(*branches)


def _turn_rows(conn: Connection, dialect: str, lo: int | None, hi: int | None) -> Iterator[dict[str, Any]]:
    """Every measure's count, sum and cumulative bound counts, and the turns by outcome."""
    rows: dict[tuple[Any, ...], list[Any]] = {}
    for name, at, *rest in conn.execute(_turn_query(dialect, lo is not None, hi is not None), _params(lo, hi)):
        *raw_dims, slot, n, value_sum = rest
        dims = [str(v or "") for v in raw_dims]
        if name == "turns":
            key = (int(at), *dims, "turns_ok" if slot else "turns_failed")
            rows.setdefault(key, [0, 0.0, []])[0] += int(n)
            continue
        bounds = BOUNDS[name]
        got = rows.setdefault((int(at), *dims, name), [0, 0.0, [0] * len(bounds)])
        got[0] += int(n)
        got[1] += float(value_sum or 0.0)
        for i in range(int(slot), len(bounds)):
            got[2][i] += int(n)
    for (at, *dims, name), (n, total, le) in rows.items():
        yield {**_key(at, dims), "measure": name, "n": n, "total": total,
               "le": json.dumps(le, separators=(",", ":"))}  # fmt: skip


def _call_rows(conn: Connection, dialect: str, lo: int | None, hi: int | None) -> Iterator[dict[str, Any]]:
    at = _row_start(RUNS, dialect).label("at")
    dims = [RUNS.c[d] for d in DIMS]
    q = select(at, *dims, func.count(), func.sum(case((RUNS.c.status == "ok", 1), else_=0)))
    q = q.where(*_between(RUNS, lo is not None, hi is not None)).group_by("at", *dims)
    for at_value, *rest in conn.execute(q, _params(lo, hi)):
        key = _key(int(at_value), rest[: len(DIMS)])
        total, n_ok = int(rest[-2]), int(rest[-1] or 0)
        yield from _count_rows(key, {"calls_ok": n_ok, "calls_failed": total - n_ok})


def _key(at: int, dims: Sequence[Any]) -> dict[str, Any]:
    return {"minute": at, **{d: str(v or "") for d, v in zip(DIMS, dims, strict=True)}}


def _count_rows(key: dict[str, Any], counts: dict[str, int]) -> Iterator[dict[str, Any]]:
    for name, n in counts.items():
        if n:
            yield {**key, "measure": name, "n": n, "total": 0.0, "le": "[]"}


def row_totals(conn: Connection, since: int) -> dict[int, int]:
    """Per row start from minute ``since`` on, the sum of its rows' ``n``: it grows when they do."""
    q = select(TABLE.c.minute, func.sum(TABLE.c.n)).where(TABLE.c.minute >= since)
    return {int(m): int(n or 0) for m, n in conn.execute(q.group_by(TABLE.c.minute))}


def rows_at(conn: Connection, starts: Iterable[int]) -> Iterator[Any]:
    """Rows ``(minute, measure, *DIMS, n, total, le)`` starting at the given minutes."""
    wanted = sorted(set(starts))
    cols = [TABLE.c.minute, TABLE.c.measure, *[TABLE.c[d] for d in DIMS], TABLE.c.n, TABLE.c.total, TABLE.c.le]
    for i in range(0, len(wanted), 200):
        yield from conn.execute(select(*cols).where(TABLE.c.minute.in_(wanted[i : i + 200])))


__all__ = ["BOUNDS", "COUNTS", "DIMS", "MEASURES", "TABLE", "WIDTH", "definition", "recompute", "row_totals", "rows_at"]
