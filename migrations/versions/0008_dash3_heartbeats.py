"""host_heartbeats: every host's heartbeats as history; bundle trust and libvirt on hosts;
guests.migrated_at (the Guests list's "migrated" filter), filled from the stored events

The host page draws health, backlog and lag over time and derives outages from the gaps
between heartbeats (app/services/heartbeats.py); the retention run downsamples and prunes
them. The heartbeat's bundle report (signer, serial, refusal) and the libvirt the shim was
installed for were sent and ignored until now.

Revision ID: 0008_dash3_heartbeats
Revises: 0007_harden
Create Date: 2026-12-07 16:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0008_dash3_heartbeats'
down_revision = '0007_harden'
branch_labels = None
depends_on = None

HOST_COLUMNS = (
    ('hb_bundle_signer', sa.Text()),
    ('hb_bundle_serial', sa.BigInteger()),
    ('hb_bundle_refused', sa.Text()),
    ('hb_bundle_warning', sa.Text()),
    ('hb_libvirt_version', sa.String(length=64)),
    ('hb_libvirt_daemon', sa.String(length=64)),
)


def upgrade() -> None:
    with op.batch_alter_table('hosts') as batch:
        for name, type_ in HOST_COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))
    op.create_table(
        'host_heartbeats',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True,
                  nullable=False),
        sa.Column('host_id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('until', sa.DateTime(), nullable=False),
        sa.Column('beats', sa.Integer(), nullable=False),
        sa.Column('bucketed', sa.Boolean(), nullable=False),
        sa.Column('spool_depth', sa.BigInteger(), nullable=True),
        sa.Column('oldest_unsent_age_s', sa.Float(), nullable=True),
        sa.Column('parked', sa.BigInteger(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('bundle_refused', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['host_id'], ['hosts.id'], ondelete='CASCADE',
                                name=op.f('fk_host_heartbeats_host_id_hosts')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_host_heartbeats')),
    )
    op.create_index('ix_host_heartbeats_host_at', 'host_heartbeats', ['host_id', 'at'])
    op.create_index('ix_host_heartbeats_at', 'host_heartbeats', ['at'])
    with op.batch_alter_table('guests') as batch:
        batch.add_column(sa.Column('migrated_at', sa.DateTime(), nullable=True))
    op.execute("UPDATE guests SET migrated_at = (SELECT max(e.started_at) FROM events e "
               "WHERE e.domain_uuid = guests.domain_uuid AND e.op = 'migrate' "
               "AND e.outcome = 'ok')")
    op.create_index('ix_guests_migrated', 'guests', ['last_event_at', 'domain_uuid'],
                    postgresql_where=sa.text('migrated_at IS NOT NULL'),
                    sqlite_where=sa.text('migrated_at IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('ix_guests_migrated', table_name='guests')
    with op.batch_alter_table('guests') as batch:
        batch.drop_column('migrated_at')
    op.drop_index('ix_host_heartbeats_at', table_name='host_heartbeats')
    op.drop_index('ix_host_heartbeats_host_at', table_name='host_heartbeats')
    op.drop_table('host_heartbeats')
    with op.batch_alter_table('hosts') as batch:
        for name, _type in reversed(HOST_COLUMNS):
            batch.drop_column(name)
