"""``hookaudit who`` (who held this MAC, disk, device, port or IP then),
``hookaudit facts catch-up`` (run the facts pass until nothing is queued) and
``hookaudit facts worker`` (run it in this process until SIGTERM/SIGINT)."""
import json
import logging
import signal
import sys
import threading

from app.cli.common import database_of, setter, settings_of
from app.facts_runner import run_worker, segments_of
from app.schemas_facts import LOOKUP_KINDS, AttributionQuery
from app.services import attribution as svc
from app.services.export import chunks
from app.services.facts_pass import catch_up, recheck_conflicts


def cmd_who(args) -> int:
    given = {k: getattr(args, k) for k in (*LOOKUP_KINDS, "host", "at", "since", "until")
             if getattr(args, k) is not None}
    q = AttributionQuery(**given, limit=args.limit)   # ValueError: main() prints it
    db = database_of(args)
    try:
        with db.session() as s:
            result = svc.attribution(s, q.kind, q.value, q.at, q.since, q.until, q.host, q.limit)
    finally:
        db.dispose()
    holders = result["holders"]
    if args.format == "json":
        print(json.dumps(result, indent=2))
    elif args.format in ("csv", "ndjson"):
        rows = [svc.flat_holder(h) for h in holders] if args.format == "csv" else holders
        for chunk in chunks(args.format, rows, svc.HOLDER_FIELDS):
            sys.stdout.write(chunk)
    else:
        _print_text(result)
    return 0 if holders else 3   # 3: nobody held it then (scripts can tell)


def _print_text(result: dict) -> None:
    q = result["query"]
    when = q["at"] or f"{q['since'] or 'the beginning'} .. {q['until'] or 'now'}"
    if not result["holders"]:
        print(f"no guest held {q['kind']} {q['value']} at {when}")
        return
    for h in result["holders"]:
        print(f"{h['name'] or '?'}  {h['guest']}  on {', '.join(h['hosts'])}  "
              f"{h['start']} -> {h['end'] or 'running'}  ({h['status']})")
        print(f"    {h['kind']} {h['key']}  events: {' '.join(h['event_ids'])}")


def cmd_catch_up(args) -> int:
    db = database_of(args)
    segments = segments_of(settings_of(args))
    try:
        result = catch_up(db, segments=segments)
        rechecked = recheck_conflicts(db, segments) if args.recheck_conflicts else None
    finally:
        db.dispose()
    print(f"facts pass: {result.guests} guest(s) recomputed, {result.extracted} XML "
          f"bodies extracted, {len(result.signals)} conflict change(s)")
    if rechecked is not None:
        print(f"conflicts re-derived: {len(rechecked.signals)} recent start(s)/end(s)")
    return 0


def cmd_worker(args) -> int:
    settings = settings_of(args)
    if args.interval is not None and args.interval <= 0:
        raise ValueError("--interval must be > 0 seconds")
    level = logging.getLevelName(settings.log_level.upper())   # uvicorn's "trace": INFO
    logging.basicConfig(level=level if isinstance(level, int) else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, setter(stop))
    run_worker(settings, stop, args.interval,
               ready=lambda: print("facts worker: running", flush=True))
    print("facts worker: stopped", flush=True)
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("who", help="which guest held a MAC, disk, host device, graphics port "
                       "or IP at a time (or in a range)")
    p.add_argument("--mac")
    p.add_argument("--disk", help="a path, rbd:pool/image, pool/image, a URL ...")
    p.add_argument("--hostdev", help="PCI 0000:3b:00.1, an mdev UUID, usb:vendor:product ...")
    p.add_argument("--port", type=int, help="graphics port (needs --host)")
    p.add_argument("--ip")
    p.add_argument("--host", help="only this host (required with --port)")
    p.add_argument("--at", help="ISO time, UTC if no zone")
    p.add_argument("--since", help="ISO time, UTC if no zone")
    p.add_argument("--until", help="ISO time, UTC if no zone")
    p.add_argument("--format", choices=("text", "json", "csv", "ndjson"), default="text")
    p.add_argument("--limit", type=int, default=500)
    p.set_defaults(func=cmd_who)
    facts = sub.add_parser("facts", help="the facts behind `who`, conflicts and changes")
    cmds = facts.add_subparsers(dest="facts_cmd", required=True)
    c = cmds.add_parser(
        "catch-up", help="run the facts pass until nothing is queued (after a migration's "
        "backfill, or when the server runs with HOOKAUDIT_FACTS_PASS_INTERVAL_S=0)")
    c.add_argument("--recheck-conflicts", action="store_true",
                   help="then re-derive every MAC and disk conflict (after changing "
                   "HOOKAUDIT_FACTS_HOST_LOCAL_NETWORKS / _SHARED_NETWORKS)")
    c.set_defaults(func=cmd_catch_up)
    w = cmds.add_parser(
        "worker", help="run the facts pass in this process until SIGTERM/SIGINT (with "
        "HOOKAUDIT_FACTS_PASS=worker in the server: extraction on its own core)")
    w.add_argument("--interval", type=float, help="seconds between polls of the queue "
                   "(default HOOKAUDIT_FACTS_PASS_INTERVAL_S)")
    w.set_defaults(func=cmd_worker)
