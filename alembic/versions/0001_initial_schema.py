"""Initial schema: probe runs, turns, spans, SLO evaluations, incidents, hooks.

Revision ID: 0001
Revises:
Create Date: 2026-11-24 20:40:15.782189
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('incidents',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('slo_name', sa.String(length=200), nullable=False),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('open_key', sa.String(length=220), nullable=True),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('labels', sa.JSON(), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by', sa.String(length=200), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incidents')),
    sa.UniqueConstraint('open_key', name=op.f('uq_incidents_open_key'))
    )
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.create_index('ix_incidents_slo_opened', ['slo_name', 'opened_at'], unique=False)

    op.create_table('probe_runs',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('probe_name', sa.String(length=200), nullable=False),
    sa.Column('target_url', sa.String(length=500), nullable=False),
    sa.Column('region', sa.String(length=100), nullable=False),
    sa.Column('pipeline', sa.String(length=100), nullable=False),
    sa.Column('protocol', sa.String(length=20), nullable=False),
    sa.Column('labels', sa.JSON(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('failure_class', sa.String(length=40), nullable=True),
    sa.Column('failure_detail', sa.Text(), nullable=True),
    sa.Column('probe_host', sa.String(length=200), nullable=False),
    sa.Column('voiceobs_version', sa.String(length=40), nullable=False),
    sa.Column('trace_id', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_probe_runs'))
    )
    with op.batch_alter_table('probe_runs', schema=None) as batch_op:
        batch_op.create_index('ix_probe_runs_probe_started', ['probe_name', 'started_at'], unique=False)
        batch_op.create_index('ix_probe_runs_region_started', ['region', 'started_at'], unique=False)
        batch_op.create_index('ix_probe_runs_started', ['started_at'], unique=False)
        batch_op.create_index('ix_probe_runs_status_started', ['status', 'started_at'], unique=False)
        batch_op.create_index('ix_probe_runs_target_started', ['target_url', 'started_at'], unique=False)

    op.create_table('slo_evaluations',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('slo_name', sa.String(length=200), nullable=False),
    sa.Column('window', sa.String(length=20), nullable=False),
    sa.Column('evaluated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('objective', sa.Float(), nullable=False),
    sa.Column('good', sa.BigInteger(), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('sli', sa.Float(), nullable=True),
    sa.Column('budget_remaining', sa.Float(), nullable=True),
    sa.Column('burn_rates', sa.JSON(), nullable=False),
    sa.Column('alert_state', sa.String(length=10), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_slo_evaluations'))
    )
    with op.batch_alter_table('slo_evaluations', schema=None) as batch_op:
        batch_op.create_index('ix_slo_evaluations_slo_at', ['slo_name', 'evaluated_at'], unique=False)

    op.create_table('spans',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('trace_id', sa.String(length=32), nullable=False),
    sa.Column('span_id', sa.String(length=16), nullable=False),
    sa.Column('parent_span_id', sa.String(length=16), nullable=True),
    sa.Column('run_id', sa.String(length=32), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('service_name', sa.String(length=200), nullable=False),
    sa.Column('start_ns', sa.BigInteger(), nullable=False),
    sa.Column('end_ns', sa.BigInteger(), nullable=False),
    sa.Column('status_code', sa.String(length=10), nullable=False),
    sa.Column('status_message', sa.Text(), nullable=True),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('events', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_spans')),
    sa.UniqueConstraint('trace_id', 'span_id', name=op.f('uq_spans_trace_id_span_id'))
    )
    with op.batch_alter_table('spans', schema=None) as batch_op:
        batch_op.create_index('ix_spans_name_start', ['name', 'start_ns'], unique=False)
        batch_op.create_index('ix_spans_run', ['run_id'], unique=False)

    op.create_table('hook_claims',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('incident_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('hook_name', sa.String(length=200), nullable=False),
    sa.Column('event', sa.String(length=20), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_hook_claims_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hook_claims')),
    sa.UniqueConstraint('incident_id', 'hook_name', 'event', name=op.f('uq_hook_claims_incident_id_hook_name_event'))
    )
    op.create_table('hook_deliveries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('incident_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('hook_name', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('event', sa.String(length=20), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('attempted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('response_code', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('duration_ms', sa.Float(), nullable=True),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_hook_deliveries_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hook_deliveries'))
    )
    with op.batch_alter_table('hook_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_hook_deliveries_incident', ['incident_id', 'attempted_at'], unique=False)

    op.create_table('incident_actions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('incident_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_actions_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_actions'))
    )
    with op.batch_alter_table('incident_actions', schema=None) as batch_op:
        batch_op.create_index('ix_incident_actions_incident', ['incident_id', 'at'], unique=False)

    op.create_table('turns',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.String(length=32), nullable=False),
    sa.Column('turn_index', sa.Integer(), nullable=False),
    sa.Column('prompt_id', sa.String(length=100), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('probe_name', sa.String(length=200), nullable=False),
    sa.Column('target_url', sa.String(length=500), nullable=False),
    sa.Column('region', sa.String(length=100), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('failure_class', sa.String(length=40), nullable=True),
    sa.Column('connect_ms', sa.Float(), nullable=True),
    sa.Column('ttfb_ms', sa.Float(), nullable=True),
    sa.Column('turn_latency_ms', sa.Float(), nullable=True),
    sa.Column('path_delay_ms', sa.Float(), nullable=True),
    sa.Column('response_ms', sa.Float(), nullable=True),
    sa.Column('gap_p50_ms', sa.Float(), nullable=True),
    sa.Column('gap_p99_ms', sa.Float(), nullable=True),
    sa.Column('gap_max_ms', sa.Float(), nullable=True),
    sa.Column('gaps_over_60ms', sa.Integer(), nullable=True),
    sa.Column('pacing_error_p99_ms', sa.Float(), nullable=True),
    sa.Column('pesq_wb', sa.Float(), nullable=True),
    sa.Column('pesq_nb', sa.Float(), nullable=True),
    sa.Column('stoi', sa.Float(), nullable=True),
    sa.Column('estoi', sa.Float(), nullable=True),
    sa.Column('dnsmos_ovrl', sa.Float(), nullable=True),
    sa.Column('dnsmos_sig', sa.Float(), nullable=True),
    sa.Column('dnsmos_bak', sa.Float(), nullable=True),
    sa.Column('wer', sa.Float(), nullable=True),
    sa.Column('quality_errors', sa.JSON(), nullable=False),
    sa.Column('transcript', sa.Text(), nullable=True),
    sa.Column('expected_text', sa.Text(), nullable=True),
    sa.Column('intent', sa.String(length=100), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['probe_runs.id'], name=op.f('fk_turns_run_id_probe_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_turns')),
    sa.UniqueConstraint('run_id', 'turn_index', name=op.f('uq_turns_run_id_turn_index'))
    )
    with op.batch_alter_table('turns', schema=None) as batch_op:
        batch_op.create_index('ix_turns_probe_started', ['probe_name', 'started_at'], unique=False)
        batch_op.create_index('ix_turns_region_started', ['region', 'started_at'], unique=False)
        batch_op.create_index('ix_turns_started', ['started_at'], unique=False)
        batch_op.create_index('ix_turns_target_started', ['target_url', 'started_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('turns', schema=None) as batch_op:
        batch_op.drop_index('ix_turns_target_started')
        batch_op.drop_index('ix_turns_started')
        batch_op.drop_index('ix_turns_region_started')
        batch_op.drop_index('ix_turns_probe_started')

    op.drop_table('turns')
    with op.batch_alter_table('incident_actions', schema=None) as batch_op:
        batch_op.drop_index('ix_incident_actions_incident')

    op.drop_table('incident_actions')
    with op.batch_alter_table('hook_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_hook_deliveries_incident')

    op.drop_table('hook_deliveries')
    op.drop_table('hook_claims')
    with op.batch_alter_table('spans', schema=None) as batch_op:
        batch_op.drop_index('ix_spans_run')
        batch_op.drop_index('ix_spans_name_start')

    op.drop_table('spans')
    with op.batch_alter_table('slo_evaluations', schema=None) as batch_op:
        batch_op.drop_index('ix_slo_evaluations_slo_at')

    op.drop_table('slo_evaluations')
    with op.batch_alter_table('probe_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_probe_runs_target_started')
        batch_op.drop_index('ix_probe_runs_status_started')
        batch_op.drop_index('ix_probe_runs_started')
        batch_op.drop_index('ix_probe_runs_region_started')
        batch_op.drop_index('ix_probe_runs_probe_started')

    op.drop_table('probe_runs')
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index('ix_incidents_slo_opened')

    op.drop_table('incidents')
