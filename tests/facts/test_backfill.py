"""Migration 0009_facts on a store made by the previous schema: the facts appear."""
import zlib
from datetime import timedelta

from alembic import command
from sqlalchemy import func, insert, inspect, select, text

from app.db import Database
from app.migrate import alembic_config, upgrade
from app.models import Event, FactsCursor, FactsPending, HeldFact, Host, XmlBlob
from app.services import accounts
from app.services.facts_pass import QUIET_FORMAT, catch_up
from app.services.ingest import _event_row
from app.services.ingest_validate import prepare
from app.timeutil import utcnow
from hookshim.event import GENESIS_HASH
from tests.factories import BASE_TIME, chain_of
from tests.facts.store import GUESTS, guest_xml

PREVIOUS = "0008_dash3_heartbeats"   # the revision 0009_facts follows


def _store_events(db: Database, host: str, events: list[dict]) -> None:
    """What ingest at the previous revision wrote: hosts, XML blobs, events rows."""
    with db.session(write=True) as s:
        accounts.add_host(s, host)
        host_id = s.scalar(select(Host.id).where(Host.name == host))
        now = utcnow()
        for e in events:
            p = prepare(e)
            if s.get(XmlBlob, p.xml_sha) is None:
                data = e["xml"].encode()
                s.add(XmlBlob(sha256=p.xml_sha, size=len(data), data=zlib.compress(data),
                              created_at=now))
                s.flush()
            s.execute(insert(Event), [_event_row(p, host_id, True, now)])


def test_upgrade_queues_every_stored_guest_and_the_pass_backfills(db_url):
    upgrade(db_url, PREVIOUS)
    db = Database(db_url)
    xml = guest_xml("web1", mac="52:54:00:ab:cd:ef")
    specs = [{"op": op, "subop": "begin", "object": "web1", "domain_uuid": GUESTS["web1"],
              "driver": "qemu", "xml": xml} for op in ("prepare", "start", "started")]
    _store_events(db, "host-a", chain_of("host-a", specs, 1, GENESIS_HASH, BASE_TIME,
                                         timedelta(seconds=1)))
    upgrade(db_url)
    with db.session() as s:
        assert list(s.scalars(select(FactsPending.domain_uuid))) == [GUESTS["web1"]]
    catch_up(db)
    with db.session() as s:
        macs = s.execute(select(HeldFact.domain_uuid, HeldFact.key, HeldFact.end)
                         .where(HeldFact.kind == "mac")).all()
        pending = s.scalar(select(func.count()).select_from(FactsPending))
    db.dispose()
    assert [tuple(m) for m in macs] == [(GUESTS["web1"], "52:54:00:ab:cd:ef", None)]
    assert pending == 0


def test_0010_from_0009_keeps_the_queue_and_the_pass_writes_cursors(db_url):
    """0010_facts_since on a 0009 store with queued guests: their rows have no ``since`` (a
    recompute from all events), the pass writes each guest's cursor, and a downgrade back to
    0009 drops both again."""
    upgrade(db_url, "0009_facts")
    db = Database(db_url)
    xml = guest_xml("web1", mac="52:54:00:ab:cd:ef")
    specs = [{"op": op, "subop": "end" if op in ("stopped", "release") else "begin",
              "object": "web1", "domain_uuid": GUESTS["web1"], "driver": "qemu", "xml": xml}
             for op in ("prepare", "start", "started", "stopped", "release", "prepare",
                        "start", "started")]
    _store_events(db, "host-a", chain_of("host-a", specs, 1, GENESIS_HASH, BASE_TIME,
                                         timedelta(minutes=1)))
    with db.session(write=True) as s:   # what ingest at 0009 queued
        s.execute(text("INSERT INTO facts_pending (domain_uuid, queued_at) VALUES (:u, :t)"),
                  {"u": GUESTS["web1"], "t": utcnow()})
    upgrade(db_url)
    with db.session() as s:
        assert s.execute(select(FactsPending.domain_uuid, FactsPending.since)).all() == [
            (GUESTS["web1"], None)]
    catch_up(db)
    with db.session() as s:
        [cursor] = s.scalars(select(FactsCursor)).all()
        macs = s.execute(select(HeldFact.start, HeldFact.end).where(HeldFact.kind == "mac")
                         .order_by(HeldFact.start)).all()
    # the two boots' starts: the second is where a later batch would be recomputed from
    base = BASE_TIME.replace(tzinfo=None)    # the store keeps naive UTC
    assert [p[0] for p in cursor.quiet] == [base.strftime(QUIET_FORMAT),
                                            (base + timedelta(minutes=5)).strftime(QUIET_FORMAT)]
    assert [m.start for m in macs] == [base, base + timedelta(minutes=5)]
    db.dispose()
    command.downgrade(alembic_config(db_url), "0009_facts")
    engine = Database(db_url).engine
    names = inspect(engine).get_table_names()
    columns = {c["name"] for c in inspect(engine).get_columns("facts_pending")}
    engine.dispose()
    assert "facts_cursors" not in names and "since" not in columns
