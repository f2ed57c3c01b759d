"""Alembic: `upgrade head` builds the schema on an empty database and matches the models."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

import app.main  # noqa: F401  (every module's tables are in Base.metadata)
from app.migrate import upgrade
from app.models import Base


def test_upgrade_head_on_empty_database_leaves_no_drift(db_url):
    upgrade(db_url)
    engine = create_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                Base.metadata)
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    assert diff == []
    assert {"hosts", "events", "xml_blobs", "guests", "policy_decisions"} <= tables
