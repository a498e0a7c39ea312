"""Bulk span writes on both backends: every span once, however often or however mixed it arrives."""

from __future__ import annotations

import dataclasses
import math
import uuid

from sqlalchemy import text

from tests.store.factories import make_run
from voiceobs.results import SpanRecord
from voiceobs.store import Store


def _spans(n: int, trace_id: str | None = None, **kw: object) -> list[SpanRecord]:
    trace_id = trace_id or uuid.uuid4().hex
    return [
        SpanRecord(trace_id, f"{i + 1:016x}", "tts", 1_000 + i, 2_000 + i, attributes={"metrics.ttfb": 0.1 * i, "text": "ok"}, **kw)  # type: ignore[arg-type]
        for i in range(n)
    ]


def _count(store: Store) -> int:
    with store.engine.connect() as c:
        return int(c.execute(text("SELECT count(*) FROM spans")).scalar() or 0)


def test_bulk_insert_counts_new_rows_and_skips_duplicates(store: Store) -> None:
    batch = _spans(300)
    assert store.save_spans_bulk(batch) == 300
    assert store.save_spans_bulk(batch) == 0  # a replayed batch
    mixed = [*_spans(5), *batch[:10], *_spans(2)]
    assert store.save_spans_bulk(mixed) == 7
    twice = _spans(3)
    assert store.save_spans_bulk([*twice, *twice]) == 3  # two copies in one batch
    assert store.save_spans_bulk([]) == 0
    assert _count(store) == 310


def test_bulk_rows_read_back_like_orm_rows(store: Store) -> None:
    (span,) = _spans(1, run_id="r" * 32, parent_span_id="a" * 16, status_message="bad gateway")
    span.attributes = {"n": 1, "f": 0.5, "list": [1, "a", True], "map": {"k": None}, "nan": math.nan}
    span.events = [{"name": "e", "timestamp_ns": 5, "attributes": {"x": 1}}]
    store.save_spans_bulk([span])
    (row,) = store.spans_for_run("r" * 32)
    assert (row.trace_id, row.span_id, row.parent_span_id) == (span.trace_id, span.span_id, "a" * 16)
    assert (row.start_ns, row.end_ns, row.status_message) == (span.start_ns, span.end_ns, "bad gateway")
    assert row.attributes["list"] == [1, "a", True] and row.attributes["map"] == {"k": None}
    # PostgreSQL's json has no NaN: stored as null rather than failing the batch; SQLite keeps
    # it the way the ORM path does.
    nan = row.attributes["nan"]
    assert nan is None if store.backend == "postgresql" else math.isnan(nan)
    assert row.events == span.events


def test_a_nul_character_does_not_fail_the_batch(store: Store) -> None:
    bad = _spans(2)
    bad[0].name = "tts\x00"
    bad[1].status_message = "x\x00y"
    assert store.save_spans_bulk(bad) == 2


def test_bulk_and_save_spans_agree_on_identity(store: Store) -> None:
    batch = _spans(4)
    assert store.save_spans(batch[:2]) == 2
    assert store.save_spans_bulk(batch) == 2
    assert store.save_spans(batch) == 0


def test_the_bulk_columns_are_the_span_record_fields() -> None:
    from dataclasses import fields

    from voiceobs.store.bulk import COLUMNS

    assert set(COLUMNS) == {f.name for f in fields(SpanRecord)}  # a new field must be written too


def _rows(store: Store, table: str, run_id: str) -> list[dict[str, object]]:
    with store.engine.connect() as c:
        rows = c.execute(
            text(f"SELECT * FROM {table} WHERE {'run_id' if table == 'turns' else 'id'} = :r"),
            {"r": run_id},
        ).mappings()
        return [{k: v for k, v in r.items() if k not in ("id", "run_id")} for r in rows]


def test_calls_written_by_copy_read_back_like_orm_rows(store: Store) -> None:
    """replace_runs (COPY on PostgreSQL) and save_run (ORM) store the same call identically."""
    orm = make_run(turns=3, with_spans=False)
    orm.turns[0].quality_errors = {"pesq": "too short"}
    orm.turns[1].flags = {"stt_ttfb_ms": "negative"}
    orm.turns[1].caller = {"snr_db": 10.0, "codec": "pcmu"}
    orm.turns[2].wer = math.nan
    orm.labels = {"team": "voice"}
    copied = dataclasses.replace(orm, id=uuid.uuid4().hex)
    assert store.save_run(orm) is True
    assert store.replace_runs([copied]) == 0
    orm_turns, copied_turns = _rows(store, "turns", orm.id), _rows(store, "turns", copied.id)
    assert len(copied_turns) == 3
    for a, b in zip(orm_turns, copied_turns, strict=True):
        nan_a, nan_b = a.pop("wer"), b.pop("wer")
        assert a == b
        # However the backend keeps a NaN (SQLite: not as NaN), both paths keep it alike.
        assert nan_a == nan_b or (math.isnan(nan_a) and math.isnan(nan_b))  # type: ignore[arg-type]
    (orm_run,), (copied_run,) = _rows(store, "probe_runs", orm.id), _rows(store, "probe_runs", copied.id)
    assert orm_run == copied_run
    got = store.get_run(copied.id)
    assert got is not None and got.turns[1].caller == {"snr_db": 10.0, "codec": "pcmu"}
    assert got.started_at == orm.started_at and got.started_at.tzinfo is not None


def test_a_call_s_spans_of_another_trace_get_its_id_when_replaced(store: Store) -> None:
    run = make_run(turns=1, with_spans=False)
    run.spans = _spans(2)  # as production_run attaches them: no run id yet
    store.replace_runs([run])
    assert [s.run_id for s in store.spans_for_run(run.id)] == [run.id, run.id]


def test_a_nul_character_in_a_replaced_call_does_not_fail_it(store: Store) -> None:
    run = make_run(turns=1, with_spans=False)
    run.turns[0].transcript = "hello\x00there"
    store.replace_runs([run])
    got = store.get_run(run.id)
    assert got is not None and got.turns[0].transcript is not None
    assert got.turns[0].transcript.replace("\x00", "") == "hellothere"
