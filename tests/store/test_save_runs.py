"""Store.save_runs: many calls in one transaction, a statement per table, duplicates skipped whole."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import event

from tests.store.factories import T0, make_run
from voiceobs.store import Store


@contextmanager
def _statements(store: Store) -> Iterator[Counter[str]]:
    """How many statements (an executemany counts once) reached the driver, by table written."""
    seen: Counter[str] = Counter()

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        words = statement.split()
        if words[:2] == ["INSERT", "INTO"]:
            seen[words[2]] += 1

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", count)


def test_a_batch_of_calls_is_a_few_statements_not_a_round_trip_per_row(store: Store) -> None:
    runs = [make_run(started_at=T0 + timedelta(seconds=i), turns=5) for i in range(40)]
    with _statements(store) as seen:
        assert store.save_runs(runs) == 40
    # Turns on PostgreSQL go by one COPY on the driver's own cursor, which is not counted here.
    assert seen["probe_runs"] == 1 and seen["turns"] == (0 if store.backend == "postgresql" else 1)
    # Spans: one multi-row INSERT on SQLite; on PostgreSQL a COPY into the staging table (on the
    # driver's own cursor, so not counted here) and one INSERT ... SELECT from it.
    assert seen["spans"] == 1
    assert store.count_runs() == 40
    assert len(store.query_turns(limit=None)) == 200
    assert all(len(store.spans_for_run(r.id)) == 2 for r in runs)


def test_stored_ids_are_skipped_with_their_turns_and_spans(store: Store) -> None:
    first = [make_run(started_at=T0 + timedelta(seconds=i), turns=2) for i in range(3)]
    assert store.save_runs(first) == 3
    again = make_run(started_at=T0, turns=4)
    again.id = first[1].id
    again.trace_id = "f" * 32
    fresh = make_run(started_at=T0 + timedelta(minutes=1), turns=3)
    assert store.save_runs([again, fresh, fresh]) == 1  # a call twice in one batch is stored once
    assert store.count_runs() == 4
    kept = store.get_run(first[1].id)
    assert kept is not None and len(kept.turns) == 2  # the stored version, untouched
    assert store.spans_for_run(first[1].id)[0].trace_id == first[1].trace_id
    assert not [s for s in store.spans_for_run(first[1].id) if s.trace_id == "f" * 32]
    assert store.save_run(first[0]) is False and store.save_run(make_run(turns=1)) is True


def test_replace_runs_is_a_statement_per_table_too(store: Store) -> None:
    runs = [make_run(started_at=T0 + timedelta(seconds=i), turns=3) for i in range(20)]
    store.save_runs(runs[:10])
    for r in runs:
        r.source = "production"
    with _statements(store) as seen:
        assert store.replace_runs(runs) == 10
    # New runs and every turn go by COPY on PostgreSQL (the driver's own cursor, not counted).
    by_statement = 0 if store.backend == "postgresql" else 1
    assert seen["probe_runs"] == by_statement and seen["turns"] == by_statement
    assert seen["spans"] == 1
    assert len(store.query_turns(limit=None)) == 60
