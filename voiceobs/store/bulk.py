"""Bulk inserts: thousands of spans (and a batch of calls' turns) per statement, each stored once.

The collector receives spans faster than one ORM object per span can be
written. PostgreSQL takes a batch through ``COPY`` into a per-connection
temporary table, then one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``
into ``spans`` (a multi-row VALUES statement spends most of its time in the
driver building and parsing one huge SQL string; COPY streams rows in the
binary-safe text format instead). SQLite, in-process, takes a multi-row
``INSERT ... ON CONFLICT DO NOTHING`` (SQLAlchemy's insertmanyvalues). Both are
idempotent on the span's unique key, so a batch replayed from the spool, an
exporter's retry, or two copies of a span in one batch are stored once, and
both say how many rows were new. The key is (trace id, span id) on SQLite and
(trace id, span id, start) on PostgreSQL, whose spans table is partitioned by
start (``voiceobs.store.partitions``); a span's start never changes between
copies of it.

``copy_rows`` is the same COPY for rows with no conflict to settle (the
turns of calls being replaced, deleted first): straight into the table,
each value converted as the column's SQLAlchemy type would bind it, so a
row written this way reads back exactly like one the ORM wrote.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import JSON, Connection, String, Table, Text
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DBAPIError

from voiceobs.errors import StoreError
from voiceobs.results import SpanRecord
from voiceobs.store.models import UTCDateTime

#: Columns written, in COPY order (the table's id is its own sequence); the fields of SpanRecord.
COLUMNS: tuple[str, ...] = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "run_id",
    "name",
    "kind",
    "service_name",
    "start_ns",
    "end_ns",
    "status_code",
    "status_message",
    "attributes",
    "events",
)

_STAGE = "voiceobs_span_batch"
# Column types follow voiceobs.store.models.Span; ON COMMIT DELETE ROWS empties it per batch.
_CREATE_STAGE = f"""
CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} (
    trace_id varchar(32), span_id varchar(16), parent_span_id varchar(16), run_id varchar(32),
    name varchar(200), kind varchar(20), service_name varchar(200), start_ns bigint,
    end_ns bigint, status_code varchar(10), status_message text, attributes json, events json
) ON COMMIT DELETE ROWS
"""
_COLS = ", ".join(COLUMNS)
_COPY = f"COPY {_STAGE} ({_COLS}) FROM STDIN"
# In key order: two collectors storing overlapping batches (an exporter's retry
# reaching another replica) take the unique index's locks in the same order, so one
# waits for the other instead of both deadlocking. No conflict target: on PostgreSQL
# spans is partitioned by start_ns, so its unique key is (trace_id, span_id, start_ns)
# (a replayed span carries its start); DO NOTHING without a target skips a row that
# breaks any unique key, whichever shape the table has.
_MOVE = (
    f"INSERT INTO spans ({_COLS}) SELECT {_COLS} FROM {_STAGE} "
    "ORDER BY trace_id, span_id ON CONFLICT DO NOTHING"
)


def _json(value: Any) -> str:
    # orjson writes NaN as null where json.dumps writes NaN, which PostgreSQL's json refuses.
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def insert_spans(conn: Connection, table: Table, spans: Sequence[SpanRecord]) -> int:
    """Insert ``spans`` into ``spans`` on ``conn``'s transaction; returns how many rows were new."""
    if not spans:
        return 0
    if conn.dialect.name == "postgresql":
        return _copy_postgresql(conn, spans)
    if conn.dialect.name != "sqlite":
        raise StoreError(f"bulk span writes support SQLite and PostgreSQL, not {conn.dialect.name}")
    rows = [{c: getattr(x, c) for c in COLUMNS} for x in spans]
    stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=["trace_id", "span_id"])
    result = conn.execute(stmt.returning(table.c.id), rows)
    return len(result.all())


def _text(value: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL; one such span must not fail (and re-spool) its batch.
    return value.replace("\x00", "") if value and "\x00" in value else value


def _copy_postgresql(conn: Connection, spans: Sequence[SpanRecord]) -> int:
    conn.exec_driver_sql(_CREATE_STAGE)
    raw = conn.connection.driver_connection
    assert raw is not None
    try:
        with raw.cursor() as cur, cur.copy(_COPY) as copy:
            for x in spans:
                copy.write_row(
                    (
                        x.trace_id, x.span_id, x.parent_span_id, x.run_id, _text(x.name), x.kind,
                        _text(x.service_name), x.start_ns, x.end_ns, x.status_code,
                        _text(x.status_message), _json(x.attributes), _json(x.events),
                    )
                )  # fmt: skip
    except Exception as exc:
        # Errors from the driver itself become SQLAlchemy's, so the store makes them one line.
        import psycopg

        if isinstance(exc, psycopg.Error):
            raise DBAPIError.instance(_COPY, None, exc, psycopg.Error) from exc
        raise
    result = conn.exec_driver_sql(_MOVE)
    return int(result.rowcount or 0)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:  # as voiceobs.store.models.UTCDateTime refuses it
        raise ValueError("naive datetime given to the store; use datetime.now(UTC)")
    return value.astimezone(UTC)


def _json_or_none(value: Any) -> str | None:
    return None if value is None else _json(value)


@functools.cache
def _converters(table: Table) -> tuple[tuple[str, Callable[[Any], Any] | None], ...]:
    out: list[tuple[str, Callable[[Any], Any] | None]] = []
    for column in table.columns:
        if column is table.autoincrement_column:
            continue  # the table's own sequence numbers it
        kind = column.type
        convert: Callable[[Any], Any] | None = None
        if isinstance(kind, JSON):
            convert = _json_or_none
        elif isinstance(kind, String | Text):
            convert = _text
        elif isinstance(kind, UTCDateTime):
            convert = _utc
        out.append((column.name, convert))
    return tuple(out)


def _default(table: Table, name: str) -> Callable[[], Any]:
    """The column's Python-side default as a function (a fresh dict each time for ``default=dict``)."""
    default = table.c[name].default
    if default is None:
        return lambda: None
    arg = getattr(default, "arg", None)
    if getattr(default, "is_callable", False):
        return lambda: arg(None)  # type: ignore[misc]
    return lambda: arg


def copy_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert ``rows`` (column -> value; a missing column takes its default) on ``conn``'s transaction.

    PostgreSQL streams them with ``COPY``; SQLite takes one executemany. Raises
    SQLAlchemy's errors (a constraint, a type) like an ``INSERT`` would.
    """
    if not rows:
        return 0
    if conn.dialect.name != "postgresql":
        conn.execute(table.insert(), list(rows))
        return len(rows)
    converters = _converters(table)
    defaults = {name: _default(table, name) for name, _ in converters}
    names = ", ".join(f'"{name}"' for name, _ in converters)
    statement = f'COPY "{table.name}" ({names}) FROM STDIN'
    raw = conn.connection.driver_connection
    assert raw is not None
    try:
        with raw.cursor() as cur, cur.copy(statement) as copy:
            for row in rows:
                values = []
                for name, convert in converters:
                    value = row[name] if name in row else defaults[name]()
                    values.append(convert(value) if convert is not None else value)
                copy.write_row(values)
    except Exception as exc:
        import psycopg

        if isinstance(exc, psycopg.Error):
            raise DBAPIError.instance(statement, None, exc, psycopg.Error) from exc
        raise
    return len(rows)


__all__ = ["COLUMNS", "copy_rows", "insert_spans"]
