"""guest density index: host_id and outcome in ix_events_domain_started

The guest page of a guest with more calls in its range than it draws one boot at a time
(``timeline_dense_calls``) counts them per host, time bucket and outcome
(app/services/guests.py ``guest_density``). With host_id and outcome in the guest's index that
count reads the index alone: 10,000 calls of one guest spread over a month of 1M events took
~45 ms of row reads on SQLite, ~10 ms from the index (docs/dashboard.md).

Revision ID: 0013_guest_density_index
Revises: 0012_histogram_coarse
Create Date: 2026-12-07 22:20:00
"""
from alembic import op

revision = '0013_guest_density_index'
down_revision = '0012_histogram_coarse'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_events_domain_started', table_name='events')
    op.create_index('ix_events_domain_started', 'events',
                    ['domain_uuid', 'started_at', 'id', 'host_id', 'outcome'])


def downgrade() -> None:
    op.drop_index('ix_events_domain_started', table_name='events')
    op.create_index('ix_events_domain_started', 'events', ['domain_uuid', 'started_at', 'id'])
