"""Hook claims carry a delivery state: at-least-once delivery with leases and an idempotency key.

Existing claims are given the state their audit trail shows: delivered (or
suppressed) when an attempt went through, otherwise pending for another try
if the claim is younger than the default give-up time (24 h), else given up.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 10:00:00.000000
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The default give_up_after of a hook (voiceobs.failover.spec.DEFAULT_GIVE_UP_AFTER), frozen here
# so this migration means the same thing whatever later releases change.
_GIVE_UP_AFTER = timedelta(hours=24)
_TS = sa.DateTime(timezone=True)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _bind(value: datetime | None, dialect: str) -> datetime | None:
    # SQLite keeps naive UTC text (as voiceobs.store.models.UTCDateTime writes it).
    if value is None or dialect != 'sqlite':
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def _backfill() -> None:
    conn = op.get_bind()
    dialect = conn.dialect.name
    claims = sa.table(
        'hook_claims',
        sa.column('id', sa.BigInteger()), sa.column('incident_id', sa.BigInteger()),
        sa.column('hook_name', sa.String()), sa.column('event', sa.String()),
        sa.column('claimed_at', _TS), sa.column('state', sa.String()),
        sa.column('attempts', sa.Integer()), sa.column('idempotency_key', sa.String()),
        sa.column('next_attempt_at', _TS), sa.column('give_up_at', _TS),
        sa.column('finished_at', _TS), sa.column('last_error', sa.Text()),
    )
    deliveries = sa.table(
        'hook_deliveries',
        sa.column('incident_id', sa.BigInteger()), sa.column('hook_name', sa.String()),
        sa.column('event', sa.String()), sa.column('outcome', sa.String()),
        sa.column('attempted_at', _TS), sa.column('error', sa.Text()),
    )
    now = datetime.now(UTC)
    rows = conn.execute(
        sa.select(claims.c.id, claims.c.incident_id, claims.c.hook_name, claims.c.event,
                  claims.c.claimed_at)
    ).all()
    for claim_id, incident_id, hook_name, event, claimed_at in rows:
        # A dry run's claim is "dry:<event>"; its delivery rows carry the plain event.
        plain = event.split(':', 1)[1] if event.startswith('dry:') else event
        trail = conn.execute(
            sa.select(deliveries.c.outcome, deliveries.c.attempted_at, deliveries.c.error)
            .where(deliveries.c.incident_id == incident_id,
                   deliveries.c.hook_name == hook_name, deliveries.c.event == plain)
            .order_by(deliveries.c.attempted_at)
        ).all()
        outcomes = [t.outcome for t in trail]
        claimed = _aware(claimed_at) or now
        give_up = claimed + _GIVE_UP_AFTER
        values: dict[str, object] = {
            'idempotency_key': str(uuid.uuid4()),
            'attempts': sum(o in ('ok', 'failed', 'timeout') for o in outcomes),
            'give_up_at': _bind(give_up, dialect),
        }
        last = _aware(trail[-1].attempted_at) if trail else None
        if 'suppressed' in outcomes:
            values.update(state='suppressed', finished_at=_bind(last, dialect))
        elif any(o in ('ok', 'dry_run') for o in outcomes):
            values.update(state='delivered', finished_at=_bind(last, dialect))
        elif give_up <= now:
            values.update(state='given_up', finished_at=_bind(now, dialect),
                          last_error=trail[-1].error if trail else 'never attempted')
        else:
            values.update(state='pending', next_attempt_at=_bind(now, dialect),
                          last_error=trail[-1].error if trail else None)
        conn.execute(sa.update(claims).where(claims.c.id == claim_id).values(**values))


def upgrade() -> None:
    with op.batch_alter_table('hook_claims', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sa.String(length=20), nullable=False, server_default='pending'))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('idempotency_key', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('lease_token', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('give_up_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_error', sa.Text(), nullable=True))
    _backfill()
    with op.batch_alter_table('hook_claims', schema=None) as batch_op:
        batch_op.alter_column('state', server_default=None, existing_type=sa.String(length=20), existing_nullable=False)
        batch_op.alter_column('attempts', server_default=None, existing_type=sa.Integer(), existing_nullable=False)
        batch_op.alter_column('idempotency_key', nullable=False, existing_type=sa.String(length=64))
        batch_op.create_unique_constraint(batch_op.f('uq_hook_claims_idempotency_key'), ['idempotency_key'])
        batch_op.create_index('ix_hook_claims_due', ['state', 'next_attempt_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('hook_claims', schema=None) as batch_op:
        batch_op.drop_index('ix_hook_claims_due')
        batch_op.drop_constraint(batch_op.f('uq_hook_claims_idempotency_key'), type_='unique')
        for column in ('last_error', 'finished_at', 'give_up_at', 'lease_token', 'lease_until',
                       'next_attempt_at', 'idempotency_key', 'attempts', 'state'):
            batch_op.drop_column(column)
