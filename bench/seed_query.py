"""Seed a migrated PostgreSQL database with N synthetic events fast (INSERT ... SELECT
generate_series), shaped like a fleet: --hosts hosts, --guests guests spread over them, each
guest cycling prepare→start→started→stopped→release, ~3% of prepares aborted by policy, a few
killed reconnects and timed-out scripts; XML bodies are the real corpus documents.

    from bench.seed_query import seed_fixed, seed_events
    seed_fixed(engine, hosts=200, guests=5000)          # hosts, guests, XML blobs
    seed_events(engine, hosts=200, guests=5000, start=0, stop=1_000_000)
"""
import time
import zlib
from datetime import UTC, datetime

from sqlalchemy import text

from bench.seed_data import corpus_dir, corpus_xml
from hookshim.event import xml_digest

BASE = datetime(2026, 1, 1)
STEP_MS = 250            # one event every 250 ms fleet-wide (~345k events/day)
UUID = ("substr(md5({x}),1,8)||'-'||substr(md5({x}),9,4)||'-4'||substr(md5({x}),14,3)"
        "||'-8'||substr(md5({x}),18,3)||'-'||substr(md5({x}),21,12)")
EVENT_ID = ("substr(md5({x}),1,8)||'-'||substr(md5({x}),9,4)||'-7'||substr(md5({x}),14,3)"
            "||'-8'||substr(md5({x}),18,3)||'-'||substr(md5({x}),21,12)")
# guest g lives on host g % hosts; event i belongs to host i % hosts, its guests in turn
GUEST = "((i % :hosts) + :hosts * (((i / :hosts) / 5) % (:guests / :hosts)))"
OP = "(ARRAY['prepare','start','started','stopped','release'])[1 + (i / :hosts) % 5]"
OUTCOME = ("CASE WHEN (i / :hosts) % 5 = 0 AND r < 30 THEN 'aborted' "
           "WHEN (i / :hosts) % 5 = 2 AND r < 3 THEN 'killed' "
           "WHEN (i / :hosts) % 5 = 1 AND r < 2 THEN 'timed_out' ELSE 'ok' END")

EVENTS_SQL = f"""
INSERT INTO events (event_id, host_id, v, kind, seq, prev_hash, hash, driver, object, op, subop,
  extra, domain_uuid, started_at, duration_ms, exit_code, outcome, reason, stderr, xml_blob,
  xml_truncated, redactions, policy_bundle_version, scripts, warnings, shim_version,
  shim_hostname, shim_pid, canonical, chain_ok, received_at)
SELECT {EVENT_ID.format(x="'e'||i")}, (i % :hosts) + 1, 1, 'hook', (i / :hosts) + 1,
  md5('p'||i)||md5('q'||i), md5('h'||i)||md5('k'||i), 'libxl', 'vm-'||{GUEST}, {OP},
  CASE WHEN (i / :hosts) % 5 >= 3 THEN 'end' ELSE 'begin' END, '-',
  {UUID.format(x="'g'||" + GUEST)},
  TIMESTAMP '2026-01-01' + i * INTERVAL '{STEP_MS} milliseconds',
  5 + r % 40, CASE WHEN {OUTCOME} = 'ok' THEN 0 ELSE 1 END, {OUTCOME},
  CASE WHEN {OUTCOME} = 'aborted' THEN 'policy no-pci-passthrough: PCI passthrough refused'
       WHEN {OUTCOME} = 'timed_out' THEN 'hook script 10-network timed out after 30 s' END,
  CASE WHEN {OUTCOME} <> 'ok' THEN 'libxl.d/10-network: bridge br'||(r % 7)||' missing' END,
  (CAST(:blobs AS text[]))[1 + {GUEST} % :nblobs], false, 0, 'b-2026-11-25',
  '[{{"path": "/etc/libvirt/hooks/libxl.d/10-network", "exit_code": 0}}]', '[]', '0.1.0',
  'dom0-'||lpad(((i % :hosts) + 1)::text, 4, '0'), 4242,
  convert_to(repeat('c', 900), 'UTF8'), true,
  TIMESTAMP '2026-01-01' + i * INTERVAL '{STEP_MS} milliseconds'
FROM (SELECT i, abs(hashtext(i::text)) % 1000 AS r FROM generate_series(:a, :b - 1) AS i) s
"""

HOSTS_SQL = """
INSERT INTO hosts (id, name, created_at, chain_problems, events_count, last_seen_at, shim_version)
SELECT h, 'dom0-'||lpad(h::text, 4, '0'), TIMESTAMP '2026-01-01', 0, 0, now(), '0.1.0'
FROM generate_series(1, :hosts) h
"""

GUESTS_SQL = f"""
INSERT INTO guests (domain_uuid, name, driver, current_host, state, first_seen_at,
  last_event_at, last_event_id, last_op, last_outcome)
SELECT {UUID.format(x="'g'||g")}, 'vm-'||g, 'libxl',
  'dom0-'||lpad(((g % :hosts) + 1)::text, 4, '0'), 'running', TIMESTAMP '2026-01-01',
  TIMESTAMP '2026-01-01' + g * INTERVAL '1 second', {EVENT_ID.format(x="'x'||g")},
  'started', 'ok'
FROM generate_series(0, :guests - 1) g
"""


def _blob_rows() -> list[dict]:
    now = datetime.now(UTC).replace(tzinfo=None)
    return [{"sha256": xml_digest(x), "size": len(x.encode()), "data": zlib.compress(x.encode()),
             "created_at": now} for x in dict.fromkeys(corpus_xml(corpus_dir()))]


def seed_fixed(engine, hosts: int, guests: int) -> list[str]:
    """Hosts, guests and the corpus XML blobs; returns the blob digests."""
    blobs = _blob_rows()
    with engine.begin() as c:
        c.execute(text(HOSTS_SQL), {"hosts": hosts})
        c.execute(text(GUESTS_SQL), {"hosts": hosts, "guests": guests})
        c.execute(text("INSERT INTO xml_blobs (sha256, size, data, created_at) "
                       "VALUES (:sha256, :size, :data, :created_at)"), blobs)
    return [b["sha256"] for b in blobs]


def seed_events(engine, hosts: int, guests: int, blobs: list[str], start: int, stop: int,
                chunk: int = 200_000) -> float:
    t0 = time.perf_counter()
    for a in range(start, stop, chunk):
        with engine.begin() as c:
            c.execute(text(EVENTS_SQL), {"hosts": hosts, "guests": guests, "a": a,
                                         "b": min(stop, a + chunk), "blobs": blobs,
                                         "nblobs": len(blobs)})
        print(f"  seeded {min(stop, a + chunk):,} events ({time.perf_counter() - t0:.0f} s)",
              flush=True)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("UPDATE hosts SET events_count = :n / :h, last_seq = :n / :h"),
                  {"n": stop, "h": hosts})
        c.execute(text("VACUUM ANALYZE"))
    return time.perf_counter() - t0
