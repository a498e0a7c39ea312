"""SLI counting in SQL: which rows an SLI looks at and which of them are good.

The SLO engine says *what* to count (an ``SliQuery``, built from an SLO
spec); this module says *how*, in SQLAlchemy Core expressions, so rows never
come into Python. The same expressions feed the per-minute rollup, the raw
edges of a window and the full-scan baseline of the benchmark, so all three
count alike. What a missing measure means is decided in the SLO spec
(``missing: exclude`` or ``bad``) and applied here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    true,
)

from voiceobs.store.filters import minute_of
from voiceobs.store.models import ProbeRun, Turn

RUNS: Table = ProbeRun.__table__  # type: ignore[assignment]
TURNS: Table = Turn.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class SliQuery:
    """What an SLI counts, in the store's terms: which events, and which of them are good.

    ``events`` is ``calls`` (probe runs; good when the call succeeded) or
    ``turns`` (good when ``measure op threshold`` holds on a successful
    call's turn). ``key`` names the SLI's rollup: equal definitions share one.
    """

    key: str
    events: Literal["calls", "turns"]
    probe: str | None = None
    target: str | None = None
    region: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    source: str | None = None
    framework: str | None = None
    service: str | None = None
    deployment: str | None = None
    measure: str | None = None
    op: str | None = None
    threshold: float | None = None
    missing: Literal["exclude", "bad"] = "exclude"


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


def source_for(query: SliQuery) -> Source:
    """Build the rows and good condition of an SLI (see the SLO spec for the NULL rules)."""
    table = RUNS if query.events == "calls" else TURNS
    conds: list[ColumnElement[bool]] = []
    if query.probe is not None:
        conds.append(table.c.probe_name == query.probe)
    if query.target is not None:
        conds.append(table.c.target_url == query.target)
    if query.region is not None:
        conds.append(table.c.region == query.region)
    # Source, framework and service are on turns too (denormalised for the indexes);
    # the deployment is the call's alone.
    for name in ("source", "framework", "service"):
        value = getattr(query, name)
        if value is not None:
            conds.append(table.c[name] == value)
    if query.deployment is not None:
        if table is RUNS:
            conds.append(RUNS.c.deployment == query.deployment)
        else:
            conds.append(
                exists().where(RUNS.c.id == TURNS.c.run_id, RUNS.c.deployment == query.deployment)
            )
    if query.labels:
        label_conds = [RUNS.c.labels[k].as_string() == v for k, v in sorted(query.labels.items())]
        if table is RUNS:
            conds.extend(label_conds)
        else:
            conds.append(exists().where(RUNS.c.id == TURNS.c.run_id, *label_conds))
    if query.events == "calls":
        good: ColumnElement[bool] = RUNS.c.status == "ok"
    else:
        column = TURNS.c[str(query.measure)]
        threshold = literal(query.threshold)
        compare = {
            "<=": column <= threshold,
            "<": column < threshold,
            ">=": column >= threshold,
            ">": column > threshold,
        }[str(query.op)]
        # A failed call's turn is bad; NULL on a good turn fails the comparison.
        good = and_(TURNS.c.ok.is_(True), compare)
        if query.missing == "exclude":
            conds.append(or_(TURNS.c.ok.is_(False), column.is_not(None)))
    return Source(table=table, where=and_(true(), *conds), good=good)


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
    "SliQuery",
    "Source",
    "counts",
    "per_minute",
    "source_for",
    "window_span",
]
