"""Ingest throughput with the facts pass vs without it, same run (issue 17: >= 0.85x).

    .venv/bin/python bench/facts_ingest.py [--pg URL] [--hosts 4] [--per-host 3000]
        [--batch 500] [--rounds 2] [--worker] [--interval 0.5]

In-process (the ingest service, no HTTP: the pass competes with ingest for CPU and the
database, which is what the ratio is about). The same chained events (bench/seed_data.py,
corpus XML when present, else the project's tests/fixtures/xml) are stored into fresh
databases, alternately:
- without: ingest only, ``facts_pass.queue_guests`` switched off (the code before issue 17);
- with: ingest (queueing) and, after every batch, a facts pass over what was queued (the
  server's runner does the same behind each batch), timed together.
Prints events/s of both per round, the ratio of the totals, and the CPU time of this
process spent ingesting and in the passes during the "with" runs (steadier than wall time on
a shared machine).

``--worker`` (HOOKAUDIT_FACTS_PASS=worker): "with" is ingest in this process while a real
`hookaudit facts worker` subprocess (started before the clock, polling every ``--interval``)
runs the pass concurrently on the same database. It also prints the facts' lag (how long
after the last batch committed the queue was empty), and checks that the worker's tables
equal a from-scratch pass over the same events (so every fact really was extracted). At the
end: the worker's CPU (its process, not the database's) and, on SQLite, how long this
process's ingest waited for the write lock (``BEGIN IMMEDIATE``) in the "with" runs: the
part of the slowdown the pass's locking causes, steadier than the ratio on a busy machine.
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import delete, event, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.db import Database  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.models import (DefinitionChange, Event, FactConflict, FactsCursor,  # noqa: E402
                        FactsPending, HeldFact)
from app.services import accounts, facts_pass  # noqa: E402
from app.services import ingest as ingest_mod  # noqa: E402
from bench.seed_data import corpus_dir, corpus_xml, host_chain  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MAC_RE = re.compile(r"(<mac address=['\"])([0-9a-fA-F:]{17})")
FILE_RE = re.compile(r"(<source (?:file|dev)=['\"])([^'\"]+)")


def xml_bodies(variants: int) -> list[str]:
    """Corpus (or fixture) domain XML, each in ``variants`` copies with their own MACs and
    disk paths: as in a fleet, guests do not share them (a shared one is a conflict)."""
    path = corpus_dir()
    bases = corpus_xml(path) if path.is_dir() else []
    bases = [b for b in bases or corpus_xml(REPO / "tests" / "fixtures" / "xml")
             if "<domain" in b]
    out = []
    for v in range(variants):
        for b in bases:
            body = MAC_RE.sub(lambda m: "%s52:54:%02x:%02x" % (m.group(1), v >> 8, v & 255)
                              + m.group(2)[-6:], b)
            out.append(FILE_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}.{v}", body))
    return out


def fresh(url_of, name: str) -> Database:
    url = url_of(name)
    upgrade(url)
    return Database(url)


CPU = {"ingest": 0.0, "passes": 0.0, "worker": 0.0}   # CPU seconds of the "with" runs
LOCK_WAIT = {"s": 0.0, "n": 0, "on": False}   # SQLite: ingest's BEGIN IMMEDIATE waits


def time_write_locks(db: Database) -> None:
    """Add up how long each BEGIN IMMEDIATE of ``db`` (app/db.py) takes: the wait for
    SQLite's one write lock."""
    @event.listens_for(db.engine, "before_cursor_execute")
    def before(conn, _cursor, statement, *_):
        if statement == "BEGIN IMMEDIATE" and LOCK_WAIT["on"]:
            conn.info["begin_at"] = time.perf_counter()

    @event.listens_for(db.engine, "after_cursor_execute")
    def after(conn, _cursor, statement, *_):
        if "begin_at" in conn.info:
            LOCK_WAIT["s"] += time.perf_counter() - conn.info.pop("begin_at")
            LOCK_WAIT["n"] += 1


def run(db: Database, chains: dict, batch: int, with_facts: bool) -> float:
    ids = {}
    with db.session(write=True) as s:
        for host in chains:
            accounts.add_host(s, host)
        ids = {h.name: h.id for h in s.scalars(accounts.select(accounts.Host))}
    original = ingest_mod.queue_guests
    if not with_facts:
        ingest_mod.queue_guests = lambda *a, **k: None
    try:
        t = time.perf_counter()
        n = max(len(c) for c in chains.values())
        for i in range(0, n, batch):
            c = time.process_time()
            for host, events in chains.items():
                if events[i:i + batch]:
                    ingest_mod.ingest(db, ids[host], events[i:i + batch])
            if with_facts:
                CPU["ingest"] += time.process_time() - c
                c = time.process_time()
                facts_pass.catch_up(db)
                CPU["passes"] += time.process_time() - c
        return time.perf_counter() - t
    finally:
        ingest_mod.queue_guests = original


def start_worker(url: str, interval: float) -> subprocess.Popen:
    """A `hookaudit facts worker` on ``url``; returns once it polls (its start-up not timed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKAUDIT_")}
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "--database-url", url, "facts",
                             "worker", "--interval", str(interval)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if proc.stdout.readline().strip() != "facts worker: running":
        proc.kill()
        sys.exit("the facts worker did not start")
    return proc


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) of a running process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_with_worker(db: Database, url: str, chains: dict, batch: int,
                    interval: float) -> tuple[float, float]:
    """Ingest (timed) while a worker process runs the pass; returns (ingest seconds, lag:
    seconds from the last batch's commit until nothing was queued)."""
    with db.session(write=True) as s:
        for host in chains:
            accounts.add_host(s, host)
        ids = {h.name: h.id for h in s.scalars(accounts.select(accounts.Host))}
    worker = start_worker(url, interval)
    started = cpu_of(worker.pid)     # its start-up (imports: ~1.5 s) not counted
    try:
        if db.is_sqlite:
            time_write_locks(db)
            LOCK_WAIT["on"] = True
        t = time.perf_counter()
        c = time.process_time()
        n = max(len(c) for c in chains.values())
        for i in range(0, n, batch):
            for host, events in chains.items():
                if events[i:i + batch]:
                    ingest_mod.ingest(db, ids[host], events[i:i + batch])
        done = time.perf_counter()
        CPU["ingest"] += time.process_time() - c
        LOCK_WAIT["on"] = False
        while facts_pass.has_pending(db):
            time.sleep(0.01)
        lag = time.perf_counter() - done
        CPU["worker"] += cpu_of(worker.pid) - started
        worker.send_signal(signal.SIGTERM)
        if worker.wait(60) != 0:
            sys.exit(f"the facts worker exited {worker.returncode}")
        return done - t, lag
    finally:
        if worker.poll() is None:
            worker.kill()


def snapshot(db: Database) -> tuple:
    with db.session() as s:
        held = sorted((h.domain_uuid, h.kind, h.key, tuple(h.hosts), h.start, h.end, h.status,
                       repr(sorted(h.attrs.items())), tuple(h.event_ids))
                      for h in s.scalars(select(HeldFact)))
        conflicts = sorted((c.kind, c.key, c.scope or "", c.guest_a, c.guest_b,
                            tuple(c.hosts), c.start, c.end)
                           for c in s.scalars(select(FactConflict)))
        changes = sorted((c.domain_uuid, c.boot_start, c.before_sha, c.after_sha, c.event_id)
                         for c in s.scalars(select(DefinitionChange)))
    return held, conflicts, changes


def equals_from_scratch(db: Database) -> tuple[bool, int]:
    """The worker's tables vs one pass over all events from nothing; (equal, held rows)."""
    incremental = snapshot(db)
    with db.session(write=True) as s:
        for model in (HeldFact, FactConflict, DefinitionChange, FactsCursor, FactsPending):
            s.execute(delete(model))
        guests = list(s.scalars(select(Event.domain_uuid).distinct()))
        facts_pass.queue_guests(s, guests, facts_pass.utcnow())
    facts_pass.catch_up(db)
    return incremental == snapshot(db), len(incremental[0])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg", help="PostgreSQL admin URL (databases are created and dropped)")
    ap.add_argument("--hosts", type=int, default=4)
    ap.add_argument("--per-host", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--worker", action="store_true",
                    help="with: a `hookaudit facts worker` process runs the pass concurrently")
    ap.add_argument("--interval", type=float, default=0.5,
                    help="--worker: the worker's poll interval (seconds)")
    args = ap.parse_args()
    xmls = xml_bodies(args.hosts * 25)
    chains = {f"dom0-{h:03d}": host_chain(f"dom0-{h:03d}", args.per_host, xmls, seed=h)
              for h in range(args.hosts)}
    total = args.hosts * args.per_host
    if args.pg:
        import psycopg
        base, admin_db = args.pg.rsplit("/", 1)
        made = []

        def url_of(name):
            name = f"{admin_db}_{name}"     # h_facts -> h_facts_bench_facts_with
            with psycopg.connect(args.pg, autocommit=True) as c:
                c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                c.execute(f"CREATE DATABASE {name}")
            made.append(name)
            return f"{base}/{name}"
    else:
        def url_of(name):
            path = Path(f"/tmp/hookaudit-{name}.db")
            for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                p.unlink(missing_ok=True)
            return f"sqlite:///{path}"
    sums, lags, unequal = {False: 0.0, True: 0.0}, [], 0
    for r in range(args.rounds):
        for with_facts in ((False, True) if r % 2 == 0 else (True, False)):
            name = f"bench_facts_{'with' if with_facts else 'without'}"
            db = fresh(url_of, name)
            note = ""
            if with_facts and args.worker:
                secs, lag = run_with_worker(db, db.engine.url.render_as_string(False), chains,
                                            args.batch, args.interval)
                equal, rows = equals_from_scratch(db)
                lags.append(lag)
                unequal += not equal
                note = (f"  lag {lag:5.2f} s, {rows} held rows, "
                        f"{'= from scratch' if equal else 'DIFFERS from scratch'}")
            else:
                secs = run(db, chains, args.batch, with_facts)
            db.dispose()
            sums[with_facts] += secs
            print(f"round {r + 1} {'with facts' if with_facts else 'without   '}: "
                  f"{total / secs:8.0f} events/s{note}", flush=True)
    print(f"ratio (with / without, {args.rounds} rounds, {total} events, "
          f"{len(set(xmls))} XML bodies): {sums[False] / sums[True]:.2f}")
    if args.worker:
        print(f"worker: lag after the last batch {min(lags):.2f}-{max(lags):.2f} s; "
              f"tables equal to a from-scratch pass in {len(lags) - unequal}/{len(lags)} rounds")
        print(f"CPU in the 'with' runs: ingest (this process) {CPU['ingest']:.2f} s, the "
              f"worker process {CPU['worker']:.2f} s (PostgreSQL's not included)")
        if LOCK_WAIT["n"]:
            print(f"ingest's wait for SQLite's write lock in the 'with' runs: "
                  f"{LOCK_WAIT['s']:.2f} s over {LOCK_WAIT['n']} transactions")
    else:
        print(f"CPU of the 'with' runs: ingest {CPU['ingest']:.2f} s, facts passes "
              f"{CPU['passes']:.2f} s (this process; PostgreSQL's own CPU not included)")
    if args.pg:     # drop what this run made
        with psycopg.connect(args.pg, autocommit=True) as c:
            for name in sorted(set(made)):
                c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    main()
