"""Both backends filter and bucket the same rows the same way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from tests.store.factories import make_run
from voiceobs.store import Store, Turn
from voiceobs.store.filters import (
    ceil_minute,
    epoch_seconds,
    floor_minute,
    minute_of,
    minute_start,
    where_runs,
)

# Instants on both sides of second and minute edges; the last microsecond of a
# minute must stay in it (a rounding converter would carry it into the next one).
EDGES = [
    datetime(2026, 11, 1, 12, 0, 59, 999_999, tzinfo=UTC),
    datetime(2026, 11, 1, 12, 1, 0, 0, tzinfo=UTC),
    datetime(2026, 11, 1, 12, 1, 0, 1, tzinfo=UTC),
    datetime(2026, 11, 1, 12, 1, 0, 500_000, tzinfo=UTC),
    datetime(2026, 11, 1, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(2026, 12, 31, 23, 59, 59, 999_500, tzinfo=UTC),
]


def test_seconds_and_minutes_truncate_on_both_backends(store: Store) -> None:
    for at in EDGES:
        store.save_run(make_run(started_at=at, turns=1, with_spans=False))
    dialect = store.backend
    q = select(Turn.started_at, epoch_seconds(Turn.started_at, dialect), minute_of(Turn.started_at, dialect))
    with store.session() as s:
        rows = s.execute(q.order_by(Turn.started_at)).all()
    got = [(int(sec), int(minute)) for _, sec, minute in rows]
    want = [(int(at.timestamp() // 1), int(at.timestamp() // 60)) for at in EDGES]
    assert got == want


def test_the_same_rows_pass_the_filters_on_both_backends(store: Store) -> None:
    t0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    store.save_run(make_run(started_at=t0, probe="a", region="eu", turns=2))
    store.save_run(make_run(started_at=t0 + timedelta(minutes=5), probe="a", region="us", turns=2))
    store.save_run(make_run(started_at=t0 + timedelta(minutes=10), probe="b", region="eu", turns=2))

    def count(**kw: object) -> int:
        with store.session() as s:
            return len(s.execute(where_runs(select(Turn.id), Turn, **kw)).all())  # type: ignore[arg-type]

    assert count() == 6
    assert count(probe="a") == 4 and count(region="eu") == 4 and count(probe="a", region="eu") == 2
    # [since, until): the start is in, the end is out.
    assert count(since=t0 + timedelta(minutes=5)) == 4
    assert count(until=t0 + timedelta(minutes=5)) == 2
    assert count(probe="", target=None) == 6  # unset drop-downs mean "any"


def test_minute_numbers_round_trip() -> None:
    at = datetime(2026, 11, 1, 12, 0, 30, tzinfo=UTC)
    m = floor_minute(at)
    assert minute_start(m) <= at < minute_start(m + 1)
    assert ceil_minute(at) == m + 1 and ceil_minute(minute_start(m)) == m
