"""PostgreSQL: partitioned ``turns`` no longer carry a foreign key to ``probe_runs``.

A foreign key on a partitioned table makes every delete of a call check
(here: cascade into) every day partition of ``turns``, one partition scan
per partition per deleted call, since the call id is not the partition key.
With this key and an unbounded delete of each call's turns, a prune of 30 days
out of 1 M turns (73 partitions) took 69.7 s; without either, 5.0 s
(``bench_prune.py --url``, benchmarks/store/RESULTS.md). Nothing in
voiceobs deletes a call without its turns: the one place calls are removed,
retention's prune, deletes the turns of each batch of calls first, and the
turns of calls older than the cutoff go with their whole day partitions.
So the key is dropped where ``turns`` is partitioned; SQLite, and
PostgreSQL stores that are not partitioned, keep it. Downgrade puts it back
(checking every row).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 18:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME = 'fk_turns_run_id_probe_runs'


def _partitioned(conn: sa.Connection) -> bool:
    return bool(conn.execute(sa.text(
        "SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass('turns')")).first())


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != 'postgresql' or not _partitioned(conn):
        return
    conn.exec_driver_sql(f'ALTER TABLE "turns" DROP CONSTRAINT IF EXISTS "{_NAME}"')


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != 'postgresql' or not _partitioned(conn):
        return
    conn.exec_driver_sql(
        f'ALTER TABLE "turns" ADD CONSTRAINT "{_NAME}" FOREIGN KEY (run_id)'
        ' REFERENCES probe_runs(id) ON DELETE CASCADE'
    )
