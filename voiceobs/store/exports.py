"""What the Prometheus exporter reads from the store: per-call totals and incremental histograms.

``voiceobs metrics serve`` answers every scrape from these two reads, so
they aggregate in SQL: call totals grouped by probe, target and region, and
histogram buckets of turns added since the last scrape (``turns.id`` only
grows, so a scrape costs what arrived since the previous one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.exc import SQLAlchemyError

from voiceobs.store.engine import translate_db_error
from voiceobs.store.models import ProbeRun, Turn
from voiceobs.store.repository import Store


@dataclass(frozen=True)
class CallTotals:
    """Calls of one probe, target and region: how many, how many ok, the latest of each."""

    probe: str
    target: str
    region: str
    source: str
    framework: str
    service: str
    ok: int
    total: int
    last_at: datetime
    last_ok_at: datetime | None

    @property
    def key(self) -> tuple[str, str, str, str, str, str]:
        """The series' label values, in the exporter's label order."""
        return (self.probe, self.target, self.region, self.source, self.framework, self.service)


@dataclass(frozen=True)
class TurnHistogram:
    """Turns of one probe, target and region: counts, and per measure (count, sum, buckets)."""

    probe: str
    target: str
    region: str
    source: str
    framework: str
    service: str
    total: int
    ok: int
    measures: dict[str, tuple[int, float, list[int]]] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str, str, str, str]:
        """The series' label values, in the exporter's label order."""
        return (self.probe, self.target, self.region, self.source, self.framework, self.service)


def _utc(value: Any) -> datetime:
    # Aggregates bypass the column type: SQLite returns text, both return naive UTC.
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def last_turn_id(store: Store) -> int:
    """The newest turn id (0 for an empty store): the exporter's watermark."""
    try:
        with store.engine.connect() as conn:
            return int(conn.execute(select(func.max(Turn.id))).scalar() or 0)
    except SQLAlchemyError as exc:
        raise translate_db_error(exc, store.url) from exc


def call_totals(store: Store) -> list[CallTotals]:
    """Every probe/target/region's call counts and latest call times, in one grouped query."""
    dims = (ProbeRun.probe_name, ProbeRun.target_url, ProbeRun.region, ProbeRun.source,
            ProbeRun.framework, ProbeRun.service)  # fmt: skip
    is_ok = ProbeRun.status == "ok"
    q = select(
        *dims,
        func.sum(case((is_ok, 1), else_=0)),
        func.count(),
        func.max(ProbeRun.started_at),
        func.max(case((is_ok, ProbeRun.started_at), else_=None)),
    ).group_by(*dims)
    try:
        with store.engine.connect() as conn:
            rows = list(conn.execute(q))
    except SQLAlchemyError as exc:
        raise translate_db_error(exc, store.url) from exc
    return [
        CallTotals(str(p), str(t), str(r or ""), str(src), str(fw or ""), str(svc or ""),
                   int(ok or 0), int(n), _utc(last), _utc(last_ok) if last_ok is not None else None)
        for p, t, r, src, fw, svc, ok, n, last, last_ok in rows
    ]  # fmt: skip


def turn_histograms(
    store: Store,
    after: int,
    head: int,
    measures: Mapping[str, tuple[Sequence[float], float]],
) -> list[TurnHistogram]:
    """Histograms of turns ``after < id <= head``, one pass over them.

    ``measures`` maps a measure to its bucket bounds (exported units) and its
    scale (stored / exported). Only successful turns that took a measure are
    in its histogram; every turn counts in ``total``.
    """
    dims = (Turn.probe_name, Turn.target_url, Turn.region, Turn.source, Turn.framework, Turn.service)
    cols: list[Any] = [func.count(), func.sum(case((Turn.ok.is_(True), 1), else_=0))]
    for name, (bounds, scale) in measures.items():
        col = getattr(Turn, name)
        taken = and_(Turn.ok.is_(True), col.is_not(None))
        cols.append(func.sum(case((taken, 1), else_=0)))
        cols.append(func.sum(case((taken, col), else_=0.0)))
        cols += [func.sum(case((and_(taken, col <= b * scale), 1), else_=0)) for b in bounds]
    q = select(*dims, *cols).where(Turn.id > after, Turn.id <= head).group_by(*dims)
    try:
        with store.engine.connect() as conn:
            rows = list(conn.execute(q))
    except SQLAlchemyError as exc:
        raise translate_db_error(exc, store.url) from exc
    out = []
    for probe, target, region, source, framework, service, total, ok, *rest in rows:
        hist = TurnHistogram(str(probe), str(target), str(region or ""), str(source),
                             str(framework or ""), str(service or ""), int(total), int(ok or 0))  # fmt: skip
        for name, (bounds, _scale) in measures.items():
            count, value_sum, *per_bucket = rest[: 2 + len(bounds)]
            rest = rest[2 + len(bounds) :]
            hist.measures[name] = (int(count or 0), float(value_sum or 0.0),
                                   [int(n or 0) for n in per_bucket])  # fmt: skip
        out.append(hist)
    return out


__all__ = ["CallTotals", "TurnHistogram", "call_totals", "last_turn_id", "turn_histograms"]
