"""host_chain_heads: the chain heads hosts report in their heartbeats

verify compares the store with them: deleting the newest events, or rewriting them
consistently, no longer passes (app/services/chain_heads.py).

Revision ID: 0005_chain_heads
Revises: 0004_spool_reset
Create Date: 2026-12-03 20:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0005_chain_heads'
down_revision = '0004_spool_reset'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'host_chain_heads',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True,
                  nullable=False),
        sa.Column('host_id', sa.Integer(), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('hash', sa.String(length=64), nullable=False),
        sa.Column('reported_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['host_id'], ['hosts.id'], ondelete='CASCADE',
                                name=op.f('fk_host_chain_heads_host_id_hosts')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_host_chain_heads')),
    )
    op.create_index('ix_host_chain_heads_host_id', 'host_chain_heads', ['host_id', 'id'])


def downgrade() -> None:
    op.drop_index('ix_host_chain_heads_host_id', table_name='host_chain_heads')
    op.drop_table('host_chain_heads')
