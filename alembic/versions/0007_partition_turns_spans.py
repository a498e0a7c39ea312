"""Turns and spans partitioned by UTC day on PostgreSQL, so retention drops whole days.

PostgreSQL only (SQLite is unchanged): each table is rebuilt as a declarative
RANGE-partitioned table (``turns`` by ``started_at``, ``spans`` by
``start_ns``) with one partition per UTC day that holds rows, the days from
today to a week ahead, and a default partition for anything else. Every
row is copied with its id, and the id sequence moves to the new table, so
new ids keep growing past the old ones (the SLO rollups follow
``turns.id``). A partitioned table's primary and unique keys must hold the
partition key: ``turns`` becomes (id, started_at) and (run_id, turn_index,
started_at), ``spans`` (id, start_ns) and (trace_id, span_id, start_ns),
which keeps span writes idempotent because a replayed span has its start.
Indexes and foreign keys (``turns.run_id`` → ``probe_runs`` ON DELETE
CASCADE) are read from the table and recreated on the new one.

The whole rebuild runs in the migration's one transaction: a failure
leaves the store as it was. Downgrade copies the rows back into plain
tables, ids and sequences kept.

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-01 15:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEYS = {'turns': 'started_at', 'spans': 'start_ns'}
_AHEAD_DAYS = 7
_NS_PER_DAY = 86_400 * 10**9
_EPOCH = date(1970, 1, 1)


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != 'postgresql':
        return
    today = datetime.now(UTC).date()
    for table, key in _KEYS.items():
        _partition(conn, table, key, today)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != 'postgresql':
        return
    for table, key in _KEYS.items():
        _unpartition(conn, table, key)


def _partition(conn: sa.Connection, table: str, key: str, today: date) -> None:
    shape = _shape(conn, table)
    new = f'{table}__partitioned'
    conn.exec_driver_sql(
        f'CREATE TABLE "{new}" (LIKE "{table}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'
        f' PARTITION BY RANGE ("{key}")'
    )
    days = set(_days_with_rows(conn, table, key)) | {today + timedelta(days=i) for i in range(_AHEAD_DAYS + 1)}
    for day in sorted(days):
        lower = datetime(day.year, day.month, day.day, tzinfo=UTC)
        conn.exec_driver_sql(
            f'CREATE TABLE "{table}_p{day:%Y%m%d}" PARTITION OF "{new}" FOR VALUES FROM'
            f' ({_bound(key, lower)}) TO ({_bound(key, lower + timedelta(days=1))})'
        )
    conn.exec_driver_sql(f'CREATE TABLE "{table}_default" PARTITION OF "{new}" DEFAULT')
    _move(conn, table, new, shape)
    _constrain(conn, table, shape, add=key)


def _unpartition(conn: sa.Connection, table: str, key: str) -> None:
    shape = _shape(conn, table)
    plain = f'{table}__plain'
    conn.exec_driver_sql(f'CREATE TABLE "{plain}" (LIKE "{table}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)')
    _move(conn, table, plain, shape)  # dropping the partitioned table drops its partitions
    _constrain(conn, table, shape, drop=key)


def _shape(conn: sa.Connection, table: str) -> dict[str, object]:
    """What the rebuilt table must get back: sequence, columns, keys, foreign keys, indexes."""
    t = {'t': table}
    keys = conn.execute(sa.text(
        "SELECT c.conname, c.contype, array_agg(a.attname ORDER BY k.ord) FROM pg_constraint c"
        " CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)"
        " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum"
        " WHERE c.conrelid = to_regclass(:t) AND c.contype IN ('p', 'u')"
        " GROUP BY c.conname, c.contype ORDER BY c.conname"), t).all()
    return {
        'sequence': conn.execute(sa.text("SELECT pg_get_serial_sequence(:t, 'id')"), t).scalar(),
        'columns': ', '.join(f'"{n}"' for n in conn.execute(sa.text(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(:t) AND attnum > 0"
            " AND NOT attisdropped ORDER BY attnum"), t).scalars()),
        'keys': [(name, kind, list(cols)) for name, kind, cols in keys],
        'foreign': conn.execute(sa.text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = to_regclass(:t) AND contype = 'f' ORDER BY conname"), t).all(),
        # Indexes that back no constraint, as their CREATE statements (ON ONLY on a partitioned table).
        'indexes': [d.replace(' ON ONLY ', ' ON ') for d in conn.execute(sa.text(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE i.indrelid = to_regclass(:t) AND NOT EXISTS (SELECT 1 FROM pg_constraint k"
            " WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid) ORDER BY c.relname"), t).scalars()],
    }


def _move(conn: sa.Connection, table: str, into: str, shape: dict[str, object]) -> None:
    """Copy every row of ``table`` into ``into``, hand it the id sequence, and take the name."""
    cols = shape['columns']
    conn.exec_driver_sql(f'INSERT INTO "{into}" ({cols}) SELECT {cols} FROM "{table}"')
    if shape['sequence']:
        conn.exec_driver_sql(f'ALTER SEQUENCE {shape["sequence"]} OWNED BY "{into}".id')
    conn.exec_driver_sql(f'DROP TABLE "{table}"')
    conn.exec_driver_sql(f'ALTER TABLE "{into}" RENAME TO "{table}"')


def _constrain(conn: sa.Connection, table: str, shape: dict[str, object],
               add: str | None = None, drop: str | None = None) -> None:
    """Recreate keys (with the partition key ``add``ed or ``drop``ped), foreign keys and indexes."""
    for name, kind, cols in shape['keys']:  # type: ignore[attr-defined]
        if add:
            cols, name = [*cols, add], name if kind == 'p' else f'{name}_{add}'
        elif drop:
            cols = [c for c in cols if c != drop]
            name = name.removesuffix(f'_{drop}') if kind == 'u' else name
        what = 'PRIMARY KEY' if kind == 'p' else 'UNIQUE'
        listed = ', '.join(f'"{c}"' for c in cols)
        conn.exec_driver_sql(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {what} ({listed})')
    for name, definition in shape['foreign']:  # type: ignore[attr-defined]
        conn.exec_driver_sql(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
    for statement in shape['indexes']:  # type: ignore[attr-defined]
        conn.exec_driver_sql(statement)
    conn.exec_driver_sql(f'ANALYZE "{table}"')


def _days_with_rows(conn: sa.Connection, table: str, key: str) -> list[date]:
    if key == 'start_ns':
        numbers = conn.exec_driver_sql(
            f'SELECT DISTINCT floor(start_ns::numeric / {_NS_PER_DAY})::bigint FROM "{table}"').scalars()
        days = []
        for n in numbers:
            try:
                days.append(_EPOCH + timedelta(days=int(n)))
            except OverflowError:  # beyond the calendar: the default partition takes it
                continue
        return days
    return [d for d in conn.exec_driver_sql(
        f"""SELECT DISTINCT ("{key}" AT TIME ZONE 'UTC')::date FROM "{table}" """).scalars() if d < date.max]


def _bound(key: str, at: datetime) -> str:
    if key == 'start_ns':
        delta = at - datetime(1970, 1, 1, tzinfo=UTC)
        return str((delta.days * 86_400 + delta.seconds) * 10**9)
    return f"'{at.isoformat()}'"
