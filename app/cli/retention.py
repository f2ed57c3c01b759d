"""``hookaudit prune`` and ``hookaudit export`` (an auditor's hashed export of a time range,
or with ``--follow`` every stored event as JSON lines for a SIEM; ``hookaudit follow`` is its
alias); the offline check ``hookaudit verify --export FILE`` is in app/cli/verify.py."""

import json
import sys
from contextlib import nullcontext
from datetime import UTC, datetime

from app.cli.common import database_of, fail, settings_of

AUDIT_ONLY = ("since", "until", "host", "sign_key")   # an audit export's options
FOLLOW_ONLY = ("cursor_file", "once", "interval")      # a follow's options


def add_parser(sub) -> None:
    p = sub.add_parser("prune", help="delete events past their retention; chains stay verifiable")
    p.add_argument(
        "--days", type=int, help="keep this many days (default HOOKAUDIT_RETENTION_DAYS)"
    )
    p.add_argument(
        "--abort-days",
        type=int,
        help="keep aborted/killed/timed-out events this long (HOOKAUDIT_RETENTION_ABORT_DAYS)",
    )
    p.add_argument("--batch-size", type=int, default=2000, help="events per transaction")
    p.add_argument("--dry-run", action="store_true", help="count what would go, delete nothing")
    p.add_argument(
        "--force",
        action="store_true",
        help="prune past chain problems too (they stay in the run record)",
    )
    p.add_argument(
        "--vacuum",
        action="store_true",
        help="then give space back (SQLite VACUUM rewrites the file; PG VACUUM ANALYZE)",
    )
    p.add_argument("--orphans", action="store_true", help="also sweep every unreferenced XML body")
    p.add_argument("--list", action="store_true", help="show the recent prune runs and exit")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_prune)
    p = sub.add_parser(
        "export",
        help="hashed NDJSON of a time range, for auditors "
        "(check it with `hookaudit verify --export FILE`); with --follow, stream every stored "
        "event as JSON lines for a SIEM",
    )
    p.add_argument("--since", help="ISO time, UTC if no zone (required without --follow)")
    p.add_argument("--until", help="ISO time, UTC if no zone (default now)")
    p.add_argument("--host", help="only this host")
    p.add_argument("-o", "--output", help="file to write ('-' = stdout; required without "
                   "--follow, which appends and defaults to stdout)")
    p.add_argument("--sign-key", metavar="KEY", help="also sign it with this Ed25519 private "
                   "key (`hookaudit keys generate`); auditors check it with KEY.pub alone")
    p.add_argument("--follow", action="store_true", help="stream every stored event once, in "
                   "the order stored, as JSON lines (Vector, Fluent Bit, Filebeat)")
    add_follow_options(p)
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("follow", help="alias of `hookaudit export --follow`")
    p.add_argument("-o", "--output", help="file to append to ('-' = stdout, the default)")
    add_follow_options(p)
    p.set_defaults(func=cmd_follow)


def add_follow_options(p) -> None:
    p.add_argument("--cursor-file", help="follow: where the position is kept across restarts")
    p.add_argument("--once", action="store_true", default=None,
                   help="follow: stop when caught up")
    p.add_argument("--interval", type=float, help="follow: seconds between polls (default 1)")


def _ctx(args):
    return settings_of(args), database_of(args)


def cmd_prune(args) -> int:
    from app.services import retention, retention_runs

    settings, db = _ctx(args)
    if args.list:
        return _print(retention_runs.list_runs(db), args.json)
    if not (args.days or settings.retention_days):
        print(
            "hookaudit: no retention set: give --days or HOOKAUDIT_RETENTION_DAYS", file=sys.stderr
        )
        return 1
    plan = retention.plan_from_settings(
        settings,
        days=args.days,
        abort_days=args.abort_days,
        batch_size=args.batch_size,
        dry_run=args.dry_run,
        force=args.force,
    )
    try:
        run = retention.prune(db, plan, actor="cli")
    except retention_runs.PruneRunning as exc:
        print(f"hookaudit: {exc}", file=sys.stderr)
        return 1
    if args.orphans and not args.dry_run:
        run["orphan_xml_deleted"] = retention.collect_orphan_blobs(db)
    if args.vacuum and not args.dry_run:
        retention.reclaim_space(db)
    _print(run, args.json)
    return 2 if run["chain_problems"] else 0


def _print(data, as_json: bool) -> int:
    if as_json:
        print(json.dumps(data, indent=2))
        return 0
    for run in data if isinstance(data, list) else [data]:
        verb = "would delete" if run["dry_run"] else "deleted"
        print(
            f"run {run['id']} {run['started_at']} by {run['actor']}: {verb} "
            f"{run['events_deleted']} events (cutoff {run['cutoff']}, "
            f"aborts {run['abort_cutoff']}), {run['xml_deleted']} XML bodies; "
            f"chain problems {run['chain_problems']}; {run['status']}"
        )
        for host, r in (run.get("hosts") or {}).items():
            print(
                f"  {host}: seq {r['from_seq']}..{r['to_seq']} {verb} {r['deleted']}, "
                f"kept aborts {r['kept_aborts']}" + "".join(f"\n    ! {p}" for p in r["problems"])
            )
    return 0


def _time(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    dt = datetime.fromisoformat(value)  # 3.11+: accepts a trailing Z
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _given(args, names) -> list[str]:
    return ["--" + n.replace("_", "-") for n in names if getattr(args, n, None) is not None]


def cmd_follow(args) -> int:
    """Every stored event as JSON lines from the cursor on (app/services/follow.py)."""
    from app.services.follow import follow

    output = args.output or "-"
    out = sys.stdout if output == "-" else open(output, "a", encoding="utf-8")  # noqa: SIM115
    try:
        follow(database_of(args), out, args.cursor_file, once=bool(args.once),
               interval=1.0 if args.interval is None else args.interval)
    except ValueError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        pass
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


def cmd_export(args) -> int:
    if args.follow:
        if given := _given(args, AUDIT_ONLY):
            return fail(f"export --follow streams every stored event from its cursor; "
                        f"{', '.join(given)} only apply to an audit export")
        return cmd_follow(args)
    if given := _given(args, FOLLOW_ONLY):
        return fail(f"{', '.join(given)} only apply to export --follow")
    if args.since is None or args.output is None:
        return fail("export needs --since and -o/--output (or --follow)")
    return _audit_export(args)


def _audit_export(args) -> int:
    from app.services.audit_export import export

    settings, db = _ctx(args)
    signer = None
    if args.sign_key:
        from app.services.anchors import AnchorKeyError, load_private

        try:
            signer = load_private(args.sign_key)
        except AnchorKeyError as exc:
            print(f"hookaudit: {exc}", file=sys.stderr)
            return 1
    target = nullcontext(sys.stdout.buffer) if args.output == "-" else open(args.output, "wb")  # noqa: SIM115 (entered just below)
    with target as out:
        trailer = export(
            db, out, _time(args.since), _time(args.until), args.host, settings.secret_key,
            signer,
        )
    signed = "HMAC-signed" if trailer["mac"] else "hashed (no secret key: not signed)"
    if trailer["signature"]:
        signed += f", Ed25519-signed by key {trailer['signature']['key_id']}"
    print(
        f"exported {trailer['events']} events of {len(trailer['hosts'])} host(s), {signed}; "
        f"sha256 {trailer['sha256']}",
        file=sys.stderr,
    )
    return 0
