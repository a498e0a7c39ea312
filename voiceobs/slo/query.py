"""SLI counting in SQL: which rows an SLO looks at and which of them are good.

Everything here builds SQLAlchemy Core expressions; rows never come into
Python. The same expressions feed the per-minute rollup, the raw edges of a
window and the full-scan baseline of the benchmark, so all three count alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    Table,
    and_,
    case,
    cast,
    exists,
    extract,
    func,
    literal,
    or_,
    select,
    true,
)

from voiceobs.slo.spec import SLO
from voiceobs.store.models import ProbeRun, Turn

RUNS: Table = ProbeRun.__table__  # type: ignore[assignment]
TURNS: Table = Turn.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Source:
    """The table an SLI counts, its filter, and its good-event condition."""

    table: Table
    where: ColumnElement[bool]
    good: ColumnElement[bool]

    @property
    def started_at(self) -> Any:
        """The column windows are cut on."""
        return self.table.c.started_at


def source_for(slo: SLO) -> Source:
    """Build the rows and good condition of ``slo``'s SLI (see spec.py for NULL rules)."""
    sel = slo.selector
    table = RUNS if slo.sli.kind == "availability" else TURNS
    conds: list[ColumnElement[bool]] = []
    if sel.probe is not None:
        conds.append(table.c.probe_name == sel.probe)
    if sel.target is not None:
        conds.append(table.c.target_url == sel.target)
    if sel.region is not None:
        conds.append(table.c.region == sel.region)
    if sel.labels:
        label_conds = [RUNS.c.labels[k].as_string() == v for k, v in sorted(sel.labels.items())]
        if table is RUNS:
            conds.extend(label_conds)
        else:
            conds.append(exists().where(RUNS.c.id == TURNS.c.run_id, *label_conds))
    if slo.sli.kind == "availability":
        good: ColumnElement[bool] = RUNS.c.status == "ok"
    else:
        column = TURNS.c[str(slo.sli.measure)]
        threshold = literal(slo.sli.threshold)
        compare = {
            "<=": column <= threshold,
            "<": column < threshold,
            ">=": column >= threshold,
            ">": column > threshold,
        }[str(slo.sli.op)]
        # A failed call's turn is bad; NULL on a good turn fails the comparison.
        good = and_(TURNS.c.ok.is_(True), compare)
        if slo.sli.missing == "exclude":
            conds.append(or_(TURNS.c.ok.is_(False), column.is_not(None)))
    return Source(table=table, where=and_(true(), *conds), good=good)


def minute_of(column: Any, dialect: str) -> ColumnElement[Any]:
    """Whole minutes since the epoch (UTC) of a timestamp column, in SQL."""
    if dialect == "sqlite":
        # The store keeps naive UTC text 'YYYY-MM-DD HH:MM:SS.ffffff'; strftime rounds
        # fractions (23:59:59.9999996 would become the next minute), so cut them off first.
        return cast(func.strftime("%s", func.substr(column, 1, 19)), BigInteger) // 60
    return cast(func.floor(extract("epoch", column) / 60), BigInteger)


def minute_start(minute: int) -> datetime:
    """The instant a minute number begins."""
    return datetime.fromtimestamp(minute * 60, UTC)


def floor_minute(at: datetime) -> int:
    """The minute number containing ``at``."""
    return int(at.timestamp() // 60)


def ceil_minute(at: datetime) -> int:
    """The first minute number starting at or after ``at``."""
    return -int(-at.timestamp() // 60)


def counts(src: Source, start: datetime, end: datetime) -> Select[Any]:
    """``SELECT good, total`` over ``[start, end)`` straight from the raw rows."""
    good = func.coalesce(func.sum(case((src.good, 1), else_=0)), 0)
    return select(good, func.count()).select_from(src.table).where(
        src.where, src.started_at >= start, src.started_at < end
    )


def per_minute(src: Source, key: str, dialect: str, start: datetime | None,
               end: datetime | None) -> Select[Any]:
    """Good and total per minute over ``[start, end)``: what the rollup stores."""
    minute = minute_of(src.started_at, dialect).label("minute")
    q = select(
        literal(key).label("slo_key"),
        minute,
        func.coalesce(func.sum(case((src.good, 1), else_=0)), 0).label("good"),
        func.count().label("total"),
    ).select_from(src.table).where(src.where)
    if start is not None:
        q = q.where(src.started_at >= start)
    if end is not None:
        q = q.where(src.started_at < end)
    return q.group_by(minute)


def window_span(now: datetime, length: timedelta) -> tuple[datetime, datetime]:
    """``[now - length, now)``: the rows a rolling window covers."""
    return now - length, now


__all__ = [
    "RUNS",
    "TURNS",
    "Source",
    "ceil_minute",
    "counts",
    "floor_minute",
    "minute_of",
    "minute_start",
    "per_minute",
    "source_for",
    "window_span",
]
