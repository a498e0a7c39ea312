"""Latency histograms per minute and per hour, so long-range percentiles never sort raw turns.

The table is filled from the turns already stored, here, with the same code
the refresh uses (``rollups.backfill_histograms``), so a store upgraded with
data draws correct long-range charts at once; the refresh keeps it fresh
after that.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 15:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('latency_histograms',
    sa.Column('width', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('measure', sa.String(length=40), nullable=False),
    sa.Column('minute', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('probe_name', sa.String(length=200), nullable=False),
    sa.Column('target_url', sa.String(length=500), nullable=False),
    sa.Column('region', sa.String(length=100), nullable=False),
    sa.Column('n', sa.BigInteger(), nullable=False),
    sa.Column('total', sa.Float(), nullable=False),
    sa.Column('counts', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('width', 'measure', 'minute', 'source', 'probe_name', 'target_url',
                            'region', name=op.f('pk_latency_histograms'))
    )
    from voiceobs.store.rollups import backfill_histograms

    backfill_histograms(op.get_bind())


def downgrade() -> None:
    op.execute("DELETE FROM slo_rollup_state WHERE slo_key = 'latency_histograms'")
    op.drop_table('latency_histograms')
