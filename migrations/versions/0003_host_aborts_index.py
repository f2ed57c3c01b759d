"""partial index of one host's aborted / killed / timed-out events

ix_events_host_aborts (host_id, started_at, id) WHERE outcome IN (...): "aborts on one host"
becomes a LIMIT-bounded range scan (docs/operations.md, EXPLAIN findings). Built
CONCURRENTLY on PostgreSQL so ingest keeps writing while a large events table is indexed.

Revision ID: 0003_host_aborts
Revises: 0002_ops
Create Date: 2026-11-25 19:55:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0003_host_aborts'
down_revision = '0002_ops'
branch_labels = None
depends_on = None

ABORTS = sa.text("outcome IN ('aborted', 'killed', 'timed_out')")


def upgrade() -> None:
    # CONCURRENTLY cannot run inside a transaction block (ignored on SQLite).
    with op.get_context().autocommit_block():
        op.create_index('ix_events_host_aborts', 'events', ['host_id', 'started_at', 'id'],
                        unique=False, postgresql_where=ABORTS, sqlite_where=ABORTS,
                        postgresql_concurrently=True)


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index('ix_events_host_aborts', table_name='events',
                      postgresql_concurrently=True)
