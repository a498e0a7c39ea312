"""Production calls beside probe calls: a source on every call and turn, join keys, bot-reported measures.

Existing rows are probe calls, so they become ``source = 'synthetic'``
(framework ``voiceobs``); the new measures start empty.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RUN_TEXT = (('framework', 40), ('service', 200), ('deployment', 100))
_RUN_KEYS = (('call_sid', 100), ('stream_sid', 100), ('conversation_id', 200), ('joined_run_id', 32))
_TURN_FLOATS = ('reported_latency_ms', 'unseen_latency_ms', 'stt_ttfb_ms', 'llm_ttfb_ms',
                'tts_ttfb_ms', 'endpointing_delay_ms')
_TURN_INTS = ('interruptions', 'input_tokens', 'output_tokens', 'tts_characters')


def upgrade() -> None:
    with op.batch_alter_table('probe_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source', sa.String(length=20), nullable=False, server_default='synthetic'))
        for name, length in _RUN_TEXT:
            batch_op.add_column(sa.Column(name, sa.String(length=length), nullable=False, server_default=''))
        for name, length in _RUN_KEYS:
            batch_op.add_column(sa.Column(name, sa.String(length=length), nullable=True))
    op.execute("UPDATE probe_runs SET framework = 'voiceobs'")
    with op.batch_alter_table('probe_runs', schema=None) as batch_op:
        batch_op.alter_column('source', server_default=None, existing_type=sa.String(length=20), existing_nullable=False)
        for name, length in _RUN_TEXT:
            batch_op.alter_column(name, server_default=None, existing_type=sa.String(length=length), existing_nullable=False)
        batch_op.create_index('ix_probe_runs_source_started', ['source', 'started_at'], unique=False)
        batch_op.create_index('ix_probe_runs_trace', ['trace_id'], unique=False)
        batch_op.create_index('ix_probe_runs_call_sid', ['call_sid'], unique=False)
        batch_op.create_index('ix_probe_runs_stream_sid', ['stream_sid'], unique=False)
        batch_op.create_index('ix_probe_runs_conversation', ['conversation_id'], unique=False)

    with op.batch_alter_table('turns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source', sa.String(length=20), nullable=False, server_default='synthetic'))
        batch_op.add_column(sa.Column('framework', sa.String(length=40), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('service', sa.String(length=200), nullable=False, server_default=''))
        for name in _TURN_FLOATS:
            batch_op.add_column(sa.Column(name, sa.Float(), nullable=True))
        for name in _TURN_INTS:
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('flags', sa.JSON(), nullable=False, server_default='{}'))
    op.execute("UPDATE turns SET framework = 'voiceobs'")
    with op.batch_alter_table('turns', schema=None) as batch_op:
        for name, length in (('source', 20), ('framework', 40), ('service', 200)):
            batch_op.alter_column(name, server_default=None, existing_type=sa.String(length=length), existing_nullable=False)
        batch_op.alter_column('flags', server_default=None, existing_type=sa.JSON(), existing_nullable=False)
        batch_op.create_index('ix_turns_source_started', ['source', 'started_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('turns', schema=None) as batch_op:
        batch_op.drop_index('ix_turns_source_started')
        for name in ('flags', *_TURN_INTS, *_TURN_FLOATS, 'service', 'framework', 'source'):
            batch_op.drop_column(name)
    with op.batch_alter_table('probe_runs', schema=None) as batch_op:
        for index in ('ix_probe_runs_conversation', 'ix_probe_runs_stream_sid', 'ix_probe_runs_call_sid',
                      'ix_probe_runs_trace', 'ix_probe_runs_source_started'):
            batch_op.drop_index(index)
        for name in ('joined_run_id', 'conversation_id', 'stream_sid', 'call_sid', 'deployment',
                     'service', 'framework', 'source'):
            batch_op.drop_column(name)
