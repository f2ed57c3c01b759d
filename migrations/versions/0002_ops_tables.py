"""operations tables: alert log and throttle, chain checkpoints, retention runs

Owned by the operations part (app/alerts, app/services/retention.py); see docs/operations.md.

Revision ID: 0002_ops
Revises: 0001
Create Date: 2026-11-25 18:25:41.765630
"""
from alembic import op
import sqlalchemy as sa


revision = '0002_ops'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alert_deliveries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('guest', sa.String(length=255), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('is_test', sa.Boolean(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('target', sa.String(length=512), nullable=False),
    sa.Column('format', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('http_status', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_attempt_at', sa.DateTime(), nullable=True),
    sa.Column('delivered_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_deliveries'))
    )
    # Delivery log, newest first.
    with op.batch_alter_table('alert_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_alert_deliveries_created', ['created_at', 'id'], unique=False)

    op.create_table('alert_throttle',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('until', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_alert_throttle'))
    )
    op.create_table('retention_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('actor', sa.String(length=255), nullable=False),
    sa.Column('cutoff', sa.DateTime(), nullable=False),
    sa.Column('abort_cutoff', sa.DateTime(), nullable=False),
    sa.Column('dry_run', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('events_deleted', sa.BigInteger(), nullable=False),
    sa.Column('xml_deleted', sa.BigInteger(), nullable=False),
    sa.Column('chain_problems', sa.Integer(), nullable=False),
    sa.Column('hosts', sa.JSON(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_runs'))
    )
    op.create_table('chain_checkpoints',
    sa.Column('host_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('mac', sa.String(length=64), nullable=False),
    sa.Column('mac_kind', sa.String(length=16), nullable=False),
    sa.Column('pruned_events', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['host_id'], ['hosts.id'], name=op.f('fk_chain_checkpoints_host_id_hosts')),
    sa.PrimaryKeyConstraint('host_id', name=op.f('pk_chain_checkpoints'))
    )
    # Retention: "is this XML body still referenced?" after each pruned batch.
    with op.batch_alter_table('events', schema=None) as batch_op:
        # partial: almost every event has no filter output, and NULLs need no collection
        batch_op.create_index('ix_events_output_xml_blob', ['output_xml_blob'], unique=False,
                              postgresql_where=sa.text('output_xml_blob IS NOT NULL'),
                              sqlite_where=sa.text('output_xml_blob IS NOT NULL'))
        batch_op.create_index('ix_events_xml_blob', ['xml_blob'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_xml_blob')
        batch_op.drop_index('ix_events_output_xml_blob')

    op.drop_table('chain_checkpoints')
    op.drop_table('retention_runs')
    op.drop_table('alert_throttle')
    with op.batch_alter_table('alert_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_alert_deliveries_created')

    op.drop_table('alert_deliveries')
