"""facts since: recompute a guest from its last quiet point; networks' port MACs

Adds ``facts_pending.since`` (the earliest started_at of the events that queued the guest;
NULL: recompute from all its events, as every row queued before this revision is) and the
``facts_cursors`` table (each guest's quiet points, written by the facts pass), and
``held_facts.source`` (NULL: a guest's own events; else the network whose hook calls gave
the row: a port's MAC held by its owner). A guest without a cursor is recomputed from all
its events once, which writes its cursor; every network seen is queued, so the pass
attributes the MACs of its ports (app/services/facts_pass.py, docs/attribution.md).

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
    with op.batch_alter_table('held_facts') as batch:
        batch.add_column(sa.Column('source', sa.String(length=36), nullable=True))
    op.create_index('ix_held_facts_source', 'held_facts', ['source', 'start'])
    # Networks' hook calls are now read for the MACs of their ports: recompute every
    # network (the pass reads a network's events as one unit, from all of them).
    op.execute("INSERT INTO facts_pending (domain_uuid, queued_at) "
               "SELECT DISTINCT domain_uuid, CURRENT_TIMESTAMP FROM events "
               "WHERE driver = 'network' AND domain_uuid IS NOT NULL")


def downgrade() -> None:
    op.drop_index('ix_held_facts_source', table_name='held_facts')
    with op.batch_alter_table('held_facts') as batch:
        batch.drop_column('source')
    op.drop_table('facts_cursors')
    with op.batch_alter_table('facts_pending') as batch:
        batch.drop_column('since')
