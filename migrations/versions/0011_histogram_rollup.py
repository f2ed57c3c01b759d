"""histogram_slots: the histograms' per-half-hour rollup (issue 15)

Creates the table and backfills it from the stored events in one INSERT ... SELECT (one pass
over events, no Python per row); from then on ingest and retention keep it in step in their
own transactions (app/services/histogram_rollup.py). The slot expression is the one
histogram_rollup.SLOT_SQL holds, written out here so the migration never runs code of a
later schema.

Revision ID: 0011_histogram_rollup
Revises: 0010_facts_since
Create Date: 2026-12-07 19:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0011_histogram_rollup'
down_revision = '0010_facts_since'
branch_labels = None
depends_on = None

# Whole half hours since 1970 of started_at: the hour-truncated time is a multiple of
# 3600 s, so its division by 1800 is exact (floored, before 1970 too), plus one in the second
# half of the hour, as slot_of() computes at ingest.
SLOT_SQL = {
    "sqlite": "CAST(strftime('%s', strftime('%Y-%m-%d %H:00:00', started_at)) AS INTEGER) / 1800"
              " + (CAST(strftime('%M', started_at) AS INTEGER) >= 30)",
    "postgresql": "CAST(extract(epoch FROM date_trunc('hour', started_at)) AS BIGINT) / 1800"
                  " + CASE WHEN extract(minute FROM started_at) >= 30 THEN 1 ELSE 0 END",
}


def upgrade() -> None:
    op.create_table(
        'histogram_slots',
        sa.Column('slot', sa.BigInteger(), nullable=False),
        sa.Column('host_id', sa.Integer(), nullable=False),
        sa.Column('driver', sa.String(length=64), nullable=False),
        sa.Column('op', sa.String(length=64), nullable=False),
        sa.Column('outcome', sa.String(length=32), nullable=False),
        sa.Column('calls', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['host_id'], ['hosts.id'],
                                name=op.f('fk_histogram_slots_host_id_hosts')),
        sa.PrimaryKeyConstraint('slot', 'host_id', 'driver', 'op', 'outcome',
                                name=op.f('pk_histogram_slots')),
    )
    aborts = sa.text("outcome IN ('aborted', 'killed', 'timed_out')")
    op.create_index('ix_histogram_slots_aborts', 'histogram_slots',
                    ['slot', 'host_id', 'driver', 'op', 'outcome', 'calls'],
                    postgresql_where=aborts, sqlite_where=aborts)
    slot = SLOT_SQL[op.get_bind().dialect.name]
    op.execute("INSERT INTO histogram_slots (slot, host_id, driver, op, outcome, calls) "
               f"SELECT {slot} AS h, host_id, driver, op, outcome, count(*) FROM events "
               "GROUP BY h, host_id, driver, op, outcome")


def downgrade() -> None:
    op.drop_table('histogram_slots')
