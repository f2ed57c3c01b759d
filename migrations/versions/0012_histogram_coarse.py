"""histogram_slots_3h: the histograms' rollup per three hours (issue 15, long ranges)

Creates the coarse level of the rollup and backfills it from the half-hour level (which
0011 backfilled and ingest/retention have kept exact since): each 3-hour row is the sum of
the six half-hour rows of its period, one INSERT ... SELECT over histogram_slots, not over
events. From then on ingest and retention keep both levels in their own transactions
(app/services/histogram_rollup.py). The 3-hour slot of a half-hour slot is floored on both
engines (their integer division truncates towards zero, so the non-negative remainder is
taken off first), written out here as histogram_rollup.COARSE_OF_SLOT_SQL holds it.

Revision ID: 0012_histogram_coarse
Revises: 0011_histogram_rollup
Create Date: 2026-12-07 22:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0012_histogram_coarse'
down_revision = '0011_histogram_rollup'
branch_labels = None
depends_on = None

COARSE_OF_SLOT = "(slot - ((slot % 6) + 6) % 6) / 6"


def upgrade() -> None:
    op.create_table(
        'histogram_slots_3h',
        sa.Column('slot', sa.BigInteger(), nullable=False),
        sa.Column('host_id', sa.Integer(), nullable=False),
        sa.Column('driver', sa.String(length=64), nullable=False),
        sa.Column('op', sa.String(length=64), nullable=False),
        sa.Column('outcome', sa.String(length=32), nullable=False),
        sa.Column('calls', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['host_id'], ['hosts.id'],
                                name=op.f('fk_histogram_slots_3h_host_id_hosts')),
        sa.PrimaryKeyConstraint('slot', 'host_id', 'driver', 'op', 'outcome',
                                name=op.f('pk_histogram_slots_3h')),
    )
    # no aborts index: the aborts histograms read the half-hour level (its partial index)
    op.execute("INSERT INTO histogram_slots_3h (slot, host_id, driver, op, outcome, calls) "
               f"SELECT {COARSE_OF_SLOT} AS c, host_id, driver, op, outcome, sum(calls) "
               "FROM histogram_slots GROUP BY c, host_id, driver, op, outcome")


def downgrade() -> None:
    op.drop_table('histogram_slots_3h')
