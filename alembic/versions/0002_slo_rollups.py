"""SLO rollups: per-minute good/total per SLI definition, and how far each has read.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 20:43:52.153278
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('slo_rollup_state',
    sa.Column('slo_key', sa.String(length=64), nullable=False),
    sa.Column('definition', sa.Text(), nullable=False),
    sa.Column('turn_watermark', sa.BigInteger(), nullable=False),
    sa.Column('refreshed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('slo_key', name=op.f('pk_slo_rollup_state'))
    )
    op.create_table('slo_rollups',
    sa.Column('slo_key', sa.String(length=64), nullable=False),
    sa.Column('minute', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('good', sa.BigInteger(), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('slo_key', 'minute', name=op.f('pk_slo_rollups'))
    )


def downgrade() -> None:
    op.drop_table('slo_rollups')
    op.drop_table('slo_rollup_state')
