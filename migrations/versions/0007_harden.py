"""harden: clock skew on events, host conflicts on guests, lower-case event ids

Issue 13 §3 (docs/security.md "Input bounds"): an event whose started_at is too far from its
receive time keeps the host's claim in host_started_at; a guest records the last host that
claimed it while it ran elsewhere; event ids stored in upper case become lower case (the one
form ingest now stores), except where the lower-case id is already taken (both copies stay,
and `hookaudit verify` names the upper-case one).

Revision ID: 0007_harden
Revises: 0006_auth_sessions
Create Date: 2026-12-07 16:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0007_harden'
down_revision = '0006_auth_sessions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('events') as batch:
        batch.add_column(sa.Column('clock_skew', sa.Boolean(), server_default=sa.false(),
                                   nullable=False))
        batch.add_column(sa.Column('host_started_at', sa.DateTime(), nullable=True))
    with op.batch_alter_table('guests') as batch:
        batch.add_column(sa.Column('conflict_host', sa.String(length=255), nullable=True))
        batch.add_column(sa.Column('conflict_event_id', sa.String(length=36), nullable=True))
        batch.add_column(sa.Column('conflict_at', sa.DateTime(), nullable=True))
    op.execute("UPDATE events SET event_id = lower(event_id) WHERE event_id <> lower(event_id) "
               "AND NOT EXISTS (SELECT 1 FROM events AS e2 "
               "WHERE e2.event_id = lower(events.event_id))")
    for table, column in (('chain_problems', 'event_id'), ('guests', 'last_event_id')):
        op.execute(f"UPDATE {table} SET {column} = lower({column}) "
                   f"WHERE {column} <> lower({column}) AND NOT EXISTS (SELECT 1 FROM events "
                   f"WHERE events.event_id = {table}.{column})")   # renamed just above


def downgrade() -> None:
    with op.batch_alter_table('guests') as batch:
        batch.drop_column('conflict_at')
        batch.drop_column('conflict_event_id')
        batch.drop_column('conflict_host')
    with op.batch_alter_table('events') as batch:
        batch.drop_column('host_started_at')
        batch.drop_column('clock_skew')
