"""A partial index of the turns sent with caller noise, for the Quality page's WER by SNR.

Turns with ``snr_db`` set come from noise sweeps and are few; without an
index of their own, the WER-by-SNR panel read every turn of its range to
find them (4.6 s over 30 days of a 10-million-turn SQLite store,
benchmarks/dashboard/RESULTS.md). On PostgreSQL the index is made on the
partitioned table, so every day partition gets it, now and when made.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 19:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        'ix_turns_snr_started', 'turns', ['started_at'],
        sqlite_where=sa.text('snr_db IS NOT NULL'), postgresql_where=sa.text('snr_db IS NOT NULL'),
    )


def downgrade() -> None:
    op.drop_index('ix_turns_snr_started', table_name='turns')
