"""The engine's settings: on PostgreSQL custom plans for every run of a statement (a generic
plan made a busy guest's newest calls a scan of every guest's) with a URL's own options kept;
on SQLite reads through a memory map."""
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


def test_sqlite_reads_through_a_memory_map(tmp_path):
    from app.db import SQLITE_MMAP

    db = Database(f"sqlite:///{tmp_path}/h.db")
    try:
        with db.session() as s:
            assert s.scalar(text("PRAGMA mmap_size")) == SQLITE_MMAP
            assert s.scalar(text("PRAGMA journal_mode")) == "wal"
    finally:
        db.dispose()
