"""facts: what each guest held and when, collisions, definition changes (issue 17)

Creates the facts tables and queues every guest already in the store for the facts pass
(app/services/facts_pass.py), which extracts the facts of the stored XML, once per distinct
body, and fills the tables: the backfill. The pass runs when the server starts (and after
every ingest), or by hand with `hookaudit facts catch-up`; the migration only queues, so it
stays fast on a large store and never runs code of a later schema.

Revision ID: 0009_facts
Revises: 0008_dash3_heartbeats
Create Date: 2026-12-07 16:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0009_facts'
down_revision = '0008_dash3_heartbeats'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def _id():
    return sa.Column('id', BIG_ID, autoincrement=True, nullable=False)


def upgrade() -> None:
    op.create_table(
        'fact_sets',
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('facts', sa.JSON(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('extracted_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['sha256'], ['xml_blobs.sha256'], ondelete='CASCADE',
                                name=op.f('fk_fact_sets_sha256_xml_blobs')),
        sa.PrimaryKeyConstraint('sha256', name=op.f('pk_fact_sets')),
    )
    op.create_table(
        'facts_pending', _id(),
        sa.Column('domain_uuid', sa.String(length=36), nullable=False),
        sa.Column('queued_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_facts_pending')),
    )
    op.create_table(
        'held_facts', _id(),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('key', sa.Text(), nullable=False),
        sa.Column('domain_uuid', sa.String(length=36), nullable=False),
        sa.Column('hosts', sa.JSON(), nullable=False),
        sa.Column('start', sa.DateTime(), nullable=False),
        sa.Column('end', sa.DateTime(), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attrs', sa.JSON(), nullable=False),
        sa.Column('event_ids', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_held_facts')),
    )
    op.create_index('ix_held_facts_kind_key_start', 'held_facts', ['kind', 'key', 'start'])
    op.create_index('ix_held_facts_domain', 'held_facts', ['domain_uuid', 'start'])
    op.create_table(
        'fact_conflicts', _id(),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('key', sa.Text(), nullable=False),
        sa.Column('scope', sa.Text(), nullable=True),
        sa.Column('guest_a', sa.String(length=36), nullable=False),
        sa.Column('guest_b', sa.String(length=36), nullable=False),
        sa.Column('hosts', sa.JSON(), nullable=False),
        sa.Column('start', sa.DateTime(), nullable=False),
        sa.Column('end', sa.DateTime(), nullable=True),
        sa.Column('detected_at', sa.DateTime(), nullable=False),
        sa.Column('ended_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_fact_conflicts')),
    )
    op.create_index('ix_fact_conflicts_start', 'fact_conflicts', ['start', 'id'])
    op.create_index('ix_fact_conflicts_kind_key', 'fact_conflicts', ['kind', 'key'])
    op.create_table(
        'definition_changes', _id(),
        sa.Column('domain_uuid', sa.String(length=36), nullable=False),
        sa.Column('boot_start', sa.DateTime(), nullable=False),
        sa.Column('hosts', sa.JSON(), nullable=False),
        sa.Column('before_sha', sa.String(length=64), nullable=False),
        sa.Column('after_sha', sa.String(length=64), nullable=False),
        sa.Column('event_id', sa.String(length=36), nullable=True),
        sa.Column('categories', sa.String(length=128), nullable=False),
        sa.Column('changes', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_definition_changes')),
    )
    op.create_index('ix_definition_changes_start', 'definition_changes', ['boot_start', 'id'])
    op.create_index('ix_definition_changes_domain', 'definition_changes',
                    ['domain_uuid', 'boot_start'])
    # The backfill: every guest with stored events, queued for the facts pass.
    op.execute("INSERT INTO facts_pending (domain_uuid, queued_at) "
               "SELECT DISTINCT domain_uuid, CURRENT_TIMESTAMP FROM events "
               "WHERE domain_uuid IS NOT NULL")


def downgrade() -> None:
    for table, indexes in (
            ('definition_changes', ('ix_definition_changes_domain',
                                    'ix_definition_changes_start')),
            ('fact_conflicts', ('ix_fact_conflicts_kind_key', 'ix_fact_conflicts_start')),
            ('held_facts', ('ix_held_facts_domain', 'ix_held_facts_kind_key_start')),
            ('facts_pending', ()), ('fact_sets', ())):
        for index in indexes:
            op.drop_index(index, table_name=table)
        op.drop_table(table)
