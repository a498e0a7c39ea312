"""Conversation dynamics on every turn: barge-in, greeting, dead air, talk-over, the caller's condition.

Turns already stored were spoken prompts from a clean caller, so they become
``kind = 'prompt'`` with an empty ``caller``; the new measures start empty.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 12:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TURN_FLOATS = ('greeting_ms', 'endpoint_wait_ms', 'talk_over_ms', 'dead_air_max_ms',
                'barge_in_stop_ms', 'clear_ms', 'snr_db')
_TURN_INTS = ('early_endpoints', 'dead_air_count')


def upgrade() -> None:
    with op.batch_alter_table('turns', schema=None) as batch_op:
        for name in _TURN_FLOATS:
            batch_op.add_column(sa.Column(name, sa.Float(), nullable=True))
        for name in _TURN_INTS:
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('kind', sa.String(length=20), nullable=False, server_default='prompt'))
        batch_op.add_column(sa.Column('caller', sa.JSON(), nullable=False, server_default='{}'))
    with op.batch_alter_table('turns', schema=None) as batch_op:
        batch_op.alter_column('kind', server_default=None, existing_type=sa.String(length=20), existing_nullable=False)
        batch_op.alter_column('caller', server_default=None, existing_type=sa.JSON(), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('turns', schema=None) as batch_op:
        for name in ('caller', 'kind', *_TURN_INTS, *_TURN_FLOATS):
            batch_op.drop_column(name)
