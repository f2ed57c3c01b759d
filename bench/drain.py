"""Drain benchmark: how fast ``hookshim forward`` empties a 100,000-event backlog into a
local server (the real app under uvicorn, SQLite and PostgreSQL).

    .venv/bin/python bench/drain.py [--events 100000] [--batch-size 500]
        [--pg-url postgresql://postgres@127.0.0.1:5432/test] [--backends sqlite,pg]

For each backend: a fresh database, one uvicorn worker, a copy of the same spool backlog
(events shaped like the hook's, XML bodies from the libvirt corpus, redacted), then
``hookshim forward --once`` timed until the spool is empty. The baseline measured in the same
run is the server alone: the same batches, pre-encoded, POSTed by a bare loop (so
drain/baseline shows what the forwarder's spool work costs on top of ingest). The ``null``
backend acknowledges without storing anything: the ceiling of the forwarder itself.
"""
import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hookshim.event import new_event_id, utc_timestamp, xml_digest  # noqa: E402
from hookshim.redact import redact  # noqa: E402
from hookshim.spool import Spool  # noqa: E402
from tests.forwarder.stack import AppServer, ServerDb  # noqa: E402

OPS = [("prepare", "begin"), ("start", "begin"), ("started", "begin"), ("stopped", "end"),
       ("release", "end")]


def corpus_xml():
    root = Path(os.environ.get("HOOKAUDIT_CORPUS", REPO / "tests" / "fixtures" / "xml"))
    docs = [redact(p.read_text(errors="replace"))[0] for p in sorted(root.rglob("*.xml"))]
    return [d for d in docs if d] or ["<domain/>"]


def event(i, host, xml):
    op, subop = OPS[i % len(OPS)]
    return {"v": 1, "kind": "hook", "event_id": new_event_id(), "host": host, "driver": "libxl",
            "object": "guest%d" % (i % 200), "op": op, "subop": subop, "extra": "-",
            "domain_uuid": str(uuid.UUID(int=i % 200)), "started_at": utc_timestamp(),
            "duration_ms": 3.2, "exit_code": 0, "outcome": "ok", "reason": None, "stderr": None,
            "xml": xml, "xml_sha256": xml_digest(xml), "xml_truncated": False,
            "output_xml": None, "output_xml_sha256": None, "redactions": 0, "policy": None,
            "scripts": [], "warnings": [], "dropped": None,
            "shim": {"version": "bench", "hostname": host, "pid": 4242}}


def build_backlog(path, n, host):
    """The backlog every backend drains (built once, copied per run)."""
    docs = corpus_xml()
    sp = Spool(str(path), max_bytes=8 << 30)
    # Bench-only: fsync per append would make building the backlog take minutes; the drain
    # being measured runs with the spool's normal durability settings.
    sp._db.execute("PRAGMA synchronous=OFF")
    for i in range(n):
        sp.append(event(i, host, docs[i % len(docs)]))
    sp.close()
    return os.path.getsize(path)


def new_pg_database(admin_url):
    import psycopg

    name = "hookaudit_bench_%d" % os.getpid()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
        conn.execute("CREATE DATABASE %s" % name)
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return name, base + "/" + name


def drop_pg_database(admin_url, name):
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)


def prepare_server(db_url, work, host):
    db = ServerDb(db_url)
    db.create_schema()
    token = db.add_host(host)
    server = AppServer(db_url, work).start()
    return db, server, token


def run_drain(backlog, work, server, token, host, batch_size):
    state = work / "state"
    state.mkdir()
    shutil.copy(backlog, state / "spool.db")
    (work / "token").write_text(token)
    conf = work / "hookshim.conf"
    conf.write_text("host = %s\nstate_dir = %s\nserver_url = %s\ntoken_file = %s\n"
                    "batch_size = %d\nbundle_interval = 1h\nheartbeat_interval = 1h\n"
                    % (host, state, server.url, work / "token", batch_size))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "hookshim.forward", "--config", str(conf),
                           "--once"], cwd=REPO, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit("forwarder failed:\n" + proc.stderr[-3000:])
    return elapsed


def run_baseline(backlog, server, token, batch_size):
    """The server alone: the same events, pre-encoded batches, one keep-alive connection."""
    sp = Spool(str(backlog))
    events = [ev for _, ev in sp.rows(10**7)]
    sp.close()
    bodies = [json.dumps({"events": events[i:i + batch_size]}, separators=(",", ":")).encode()
              for i in range(0, len(events), batch_size)]
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    t0 = time.perf_counter()
    for body in bodies:
        conn.request("POST", "/api/v1/ingest", body, headers)
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200, resp.status
    return time.perf_counter() - t0


class NullServer:
    """Acknowledges every event at once, stores nothing: the forwarder's own ceiling."""

    def __init__(self):
        from tests.forwarder.scripted import ScriptedServer

        self.server = ScriptedServer().__enter__()
        self.url = self.server.url
        self.port = int(self.url.rsplit(":", 1)[1])
        self.acked = 0
        handler = self.server.handler

        def count(req):
            status, headers, body = handler(req)
            if req.path.endswith("/ingest"):
                self.acked += len(json.loads(body)["results"])
            return status, headers, body
        self.server.handler = count

    def stop(self):
        self.server.__exit__(None, None, None)


def bench_null(args, backlog, tmp):
    results = {}
    for mode in ("baseline", "drain"):
        work = Path(tempfile.mkdtemp(dir=tmp, prefix="null-%s-" % mode))
        server = NullServer()
        try:
            if mode == "drain":
                seconds = run_drain(backlog, work, server, "t", "bench-host", args.batch_size)
            else:
                seconds = run_baseline(backlog, server, "t", args.batch_size)
            assert server.acked == args.events, "acked %d of %d" % (server.acked, args.events)
        finally:
            server.stop()
        results[mode] = seconds
    return results


def bench_backend(backend, args, backlog, tmp):
    if backend == "null":
        return bench_null(args, backlog, tmp)
    results = {}
    for mode in ("baseline", "drain"):
        work = Path(tempfile.mkdtemp(dir=tmp, prefix="%s-%s-" % (backend, mode)))
        pg_name = None
        if backend == "sqlite":
            db_url = "sqlite:///%s" % (work / "hookaudit.db")
        else:
            pg_name, db_url = new_pg_database(args.pg_url)
        db, server, token = prepare_server(db_url, work, "bench-host")
        try:
            if mode == "drain":
                seconds = run_drain(backlog, work, server, token, "bench-host", args.batch_size)
            else:
                seconds = run_baseline(backlog, server, token, args.batch_size)
            stored = len(db.stored("bench-host"))
            assert stored == args.events, "stored %d of %d" % (stored, args.events)
        finally:
            server.stop()
            db.dispose()
            if pg_name:
                drop_pg_database(args.pg_url, pg_name)
        results[mode] = seconds
    return results


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=100000)
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--backends", default="sqlite,pg,null",
                   help="sqlite, pg: the real app; null: an ack-only server (forwarder ceiling)")
    p.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="hookaudit-drain-") as tmp:
        backlog = Path(tmp) / "backlog.db"
        t0 = time.perf_counter()
        size = build_backlog(backlog, args.events, "bench-host")
        print("backlog: %d events, spool file %.1f MiB, built in %.1fs"
              % (args.events, size / 2**20, time.perf_counter() - t0), flush=True)
        print("%-8s %14s %14s %16s %10s" % ("backend", "drain s", "drain ev/s",
                                            "baseline ev/s", "ratio"))
        for backend in args.backends.split(","):
            r = bench_backend(backend, args, backlog, tmp)
            print("%-8s %14.1f %14.0f %16.0f %10.2f" % (
                backend, r["drain"], args.events / r["drain"], args.events / r["baseline"],
                r["baseline"] / r["drain"]), flush=True)


if __name__ == "__main__":
    main()
