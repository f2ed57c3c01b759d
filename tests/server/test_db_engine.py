"""The engine's PostgreSQL settings: custom plans for every run of a statement (a generic plan
made a busy guest's newest calls a scan of every guest's), and a URL's own options kept."""
import pytest
from sqlalchemy import text

from app.db import Database


@pytest.mark.pg
def test_postgresql_sessions_plan_per_value_and_keep_the_url_options(pg_schema_url):
    db = Database(pg_schema_url)
    try:
        with db.session() as s:
            assert s.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"
            schema = pg_schema_url.rsplit("search_path%3D", 1)[1]
            assert s.scalar(text("SHOW search_path")) == schema
    finally:
        db.dispose()
