"""Engine and session factory, one per app (nothing connects at import time)."""
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker


def normalize_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use the psycopg 3 driver for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


SQLITE_MMAP = 1 << 30       # 1 GiB of the database file mapped (pages beyond it are read)


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn, _record):
        # Let SQLAlchemy emit BEGIN itself (below) instead of pysqlite's implicit transactions.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        # WAL: readers never block the writer and vice versa (dashboard reads during ingest).
        cur.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable across application crashes in WAL mode; a power loss may lose the
        # last commits, which the forwarders re-send (the spool keeps them until acknowledged).
        cur.execute("PRAGMA synchronous=NORMAL")
        # Wait for the write lock instead of failing at once when two requests write.
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        # Read the file through a memory map (up to SQLITE_MMAP bytes) instead of a read()
        # per page: a month's 11,000 aborts spread over 1M events were grouped in 71 -> 42 ms
        # (docs/server.md). The cost SQLite documents: an I/O error while reading the mapped
        # file ends the process (SIGBUS) instead of failing the query; a server on a disk
        # that fails has bigger problems, and its data is on the hosts' spools until acked.
        cur.execute(f"PRAGMA mmap_size={SQLITE_MMAP}")
        cur.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn):
        # Writers take the write lock up front: a deferred transaction that reads and then
        # writes can fail with SQLITE_BUSY instead of waiting (busy_timeout does not apply).
        immediate = conn.get_execution_options().get("sqlite_immediate")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def is_postgresql(bind) -> bool:
    """Whether a Session's bind, a Connection or an Engine talks to PostgreSQL."""
    return bind.dialect.name == "postgresql"


def make_engine(url: str, pool_size: int = 10) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _sqlite_setup(engine)
        return engine
    # plan_cache_mode: psycopg prepares a statement on the server after its 5th run on a
    # connection, and PostgreSQL then moves it to a generic plan, blind to the bound values:
    # the newest 200 calls of one guest became a backward scan of every guest's calls by time
    # (3 ms -> 40-70 ms at 1M events; docs/server.md). Plans stay per value; parsing is
    # still saved.
    options = " ".join(filter(None, [make_url(url).query.get("options"),
                                     "-c plan_cache_mode=force_custom_plan"]))
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
                         connect_args={"options": options})


class Database:
    """The engine and its session factory; lives on ``app.state.db``."""

    def __init__(self, url: str, pool_size: int = 10):
        self.engine = make_engine(url, pool_size)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self, write: bool = False) -> Iterator[Session]:
        """A session in one transaction, committed on success; ``write`` locks early on SQLite."""
        with self.sessionmaker() as session, session.begin():
            if write and self.is_sqlite:
                session.connection(execution_options={"sqlite_immediate": True})
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
