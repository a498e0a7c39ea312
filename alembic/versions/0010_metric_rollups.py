"""The Prometheus exporter's quarter-hour rows, kept by the same refresh as the other rollups.

Before this the exporter read raw turns itself (every stored turn on its
first scrape, every call on each scrape). The table is filled here from the
rows already stored, with the refresh's own code, so an upgraded store's
exporter answers at once.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 22:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('metric_rollups',
    sa.Column('minute', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('measure', sa.String(length=40), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('probe_name', sa.String(length=200), nullable=False),
    sa.Column('target_url', sa.String(length=500), nullable=False),
    sa.Column('region', sa.String(length=100), nullable=False),
    sa.Column('framework', sa.String(length=40), nullable=False),
    sa.Column('service', sa.String(length=200), nullable=False),
    sa.Column('n', sa.BigInteger(), nullable=False),
    sa.Column('total', sa.Float(), nullable=False),
    sa.Column('le', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('minute', 'measure', 'source', 'probe_name', 'target_url', 'region',
                            'framework', 'service', name=op.f('pk_metric_rollups'))
    )
    from voiceobs.store.rollups import backfill_metric_rollups

    backfill_metric_rollups(op.get_bind())


def downgrade() -> None:
    op.execute("DELETE FROM slo_rollup_state WHERE slo_key = 'metric_rollups'")
    op.drop_table('metric_rollups')
