"""facts since: recompute a guest's facts from its last quiet point, not from all its events

Adds ``facts_pending.since`` (the earliest started_at of the events that queued the guest;
NULL: recompute from all its events, as every row queued before this revision is) and the
``facts_cursors`` table (each guest's quiet points, written by the facts pass). An existing
store needs no backfill: a guest without a cursor is recomputed from all its events once,
which writes its cursor (app/services/facts_pass.py, docs/attribution.md).

Revision ID: 0010_facts_since
Revises: 0009_facts
Create Date: 2026-12-07 19:10:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0010_facts_since'
down_revision = '0009_facts'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('facts_pending') as batch:
        batch.add_column(sa.Column('since', sa.DateTime(), nullable=True))
    op.create_table(
        'facts_cursors',
        sa.Column('domain_uuid', sa.String(length=36), nullable=False),
        sa.Column('quiet', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('domain_uuid', name=op.f('pk_facts_cursors')),
    )


def downgrade() -> None:
    op.drop_table('facts_cursors')
    with op.batch_alter_table('facts_pending') as batch:
        batch.drop_column('since')
