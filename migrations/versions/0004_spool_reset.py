"""spool resets: the host's last declared reset, gaps declared lost by it

hosts.spool_reset_{at,event_id,head_seq,head_hash}: the last "spool_reset" event of the host
(hookshim/spool_reset.py), shown on the hosts page. seq_gaps.declared_by: the reset event
that declared the gap's events lost (a closed gap that no late event filled).

Revision ID: 0004_spool_reset
Revises: 0003_host_aborts
Create Date: 2026-12-03 20:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0004_spool_reset'
down_revision = '0003_host_aborts'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('hosts') as batch:
        batch.add_column(sa.Column('spool_reset_at', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('spool_reset_event_id', sa.String(length=36), nullable=True))
        batch.add_column(sa.Column('spool_reset_head_seq', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('spool_reset_head_hash', sa.String(length=64), nullable=True))
    with op.batch_alter_table('seq_gaps') as batch:
        batch.add_column(sa.Column('declared_by', sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('seq_gaps') as batch:
        batch.drop_column('declared_by')
    with op.batch_alter_table('hosts') as batch:
        for name in ('spool_reset_head_hash', 'spool_reset_head_seq', 'spool_reset_event_id',
                     'spool_reset_at'):
            batch.drop_column(name)
