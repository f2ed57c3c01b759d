"""``hookaudit``: the server's command line.

Each command group is registered by one small ``_add_<group>(subparsers)`` function; other
parts register theirs from their own module with ``add_parser(subparsers)`` (see EXTENSIONS).
Commands read Settings from ``HOOKAUDIT_*`` like the server, ``--database-url`` overrides.
"""
import argparse
import json
import sys
from importlib import import_module

from app.config import Settings

# Modules with `add_parser(subparsers)` registering their own subcommands.
EXTENSIONS = ["app.policy.cli", "app.demo.cli", "app.services.retention_cli",
              "app.services.rollout_cli"]


def _settings(args) -> Settings:
    overrides = {"database_url": args.database_url} if args.database_url else {}
    return Settings(**overrides)


def _db(args):
    from app.db import Database

    return Database(_settings(args).database_url)


def _fail(message: str) -> int:
    print(f"hookaudit: {message}", file=sys.stderr)
    return 1


# ---- serve, db -------------------------------------------------------------------------------

def cmd_serve(args) -> int:
    import os

    import uvicorn

    if args.database_url:   # the workers build their own Settings from the environment
        os.environ["HOOKAUDIT_DATABASE_URL"] = args.database_url
    uvicorn.run("app.main:create_app", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level=_settings(args).log_level,
                proxy_headers=True, forwarded_allow_ips=args.forwarded_allow_ips)
    return 0


def cmd_db_upgrade(args) -> int:
    from app.migrate import upgrade

    upgrade(_settings(args).database_url, args.revision)
    print(f"database at revision {args.revision}")
    return 0


def _add_serve(sub) -> None:
    p = sub.add_parser("serve", help="run the API and dashboard (uvicorn)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    p.add_argument("--forwarded-allow-ips", default="127.0.0.1",
                   help="proxies trusted for X-Forwarded-* headers")
    p.set_defaults(func=cmd_serve)


def _add_db(sub) -> None:
    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_cmd", required=True)
    p = db.add_parser("upgrade", help="apply the Alembic migrations (creates the schema)")
    p.add_argument("revision", nargs="?", default="head")
    p.set_defaults(func=cmd_db_upgrade)


# ---- hosts, users, tokens --------------------------------------------------------------------

def cmd_hosts_add(args) -> int:
    from app.services import accounts

    try:
        with _db(args).session(write=True) as s:
            token = accounts.add_host(s, args.name, rotate=args.rotate)
    except accounts.AccountError as exc:
        return _fail(str(exc))
    print(token)   # shown once: only its hash is stored
    print(f"host {args.name!r}: put this token in the shim's token_file; it is not shown again",
          file=sys.stderr)
    return 0


def cmd_hosts_list(args) -> int:
    from app.services.hosts import list_hosts

    with _db(args).session() as s:
        hosts = list_hosts(s, _settings(args))
    if args.json:
        print(json.dumps(hosts, indent=2))
        return 0
    print(f"{'NAME':24} {'HEALTH':12} {'LAST SEEN':28} {'LAST SEQ':>9} {'GAPS':>5} SHIM")
    for h in hosts:
        print(f"{h['name']:24} {h['health']:12} {h['last_seen_at'] or '-':28} "
              f"{h['last_seq'] or 0:>9} {h['missing_events']:>5} {h['shim_version'] or '-'}")
    return 0


def cmd_hosts_revoke(args) -> int:
    from app.services import accounts

    try:
        with _db(args).session(write=True) as s:
            accounts.revoke_host(s, args.name)
    except accounts.AccountError as exc:
        return _fail(str(exc))
    print(f"host {args.name!r} revoked: its token no longer ingests")
    return 0


def cmd_users_add(args) -> int:
    from app.services import accounts

    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
    if args.password_stdin and not password:
        return _fail("empty password on stdin")
    try:
        with _db(args).session(write=True) as s:
            accounts.add_user(s, args.name, args.role, password)
    except accounts.AccountError as exc:
        return _fail(str(exc))
    print(f"user {args.name!r} added with role {args.role}")
    return 0


def cmd_tokens_create(args) -> int:
    from app.services import accounts

    try:
        with _db(args).session(write=True) as s:
            token = accounts.create_user_token(s, args.user, args.label)
    except accounts.AccountError as exc:
        return _fail(str(exc))
    print(token)
    return 0


def _add_accounts(sub) -> None:
    hosts = sub.add_parser("hosts", help="hosts and their ingest tokens")
    hs = hosts.add_subparsers(dest="hosts_cmd", required=True)
    p = hs.add_parser("add", help="register a host and print its token (once)")
    p.add_argument("name")
    p.add_argument("--rotate", action="store_true", help="existing host: issue a new token")
    p.set_defaults(func=cmd_hosts_add)
    p = hs.add_parser("list", help="hosts with their health")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_hosts_list)
    p = hs.add_parser("revoke", help="revoke a host's token")
    p.add_argument("name")
    p.set_defaults(func=cmd_hosts_revoke)
    users = sub.add_parser("users", help="people who read the audit trail")
    p = users.add_subparsers(dest="users_cmd", required=True).add_parser("add", help="add a user")
    p.add_argument("name")
    p.add_argument("--role", choices=("viewer", "admin"), default="viewer")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the password (for dashboard login) from the first stdin line")
    p.set_defaults(func=cmd_users_add)
    tokens = sub.add_parser("tokens", help="users' API tokens")
    p = tokens.add_subparsers(dest="tokens_cmd", required=True).add_parser(
        "create", help="create an API token for a user and print it (once)")
    p.add_argument("--user", required=True)
    p.add_argument("--label")
    p.set_defaults(func=cmd_tokens_create)


# ---- events query, verify --------------------------------------------------------------------

def cmd_events_query(args) -> int:
    from app.schemas_query import EventFilters
    from app.services.events import iter_events
    from app.services.export import chunks

    filters = EventFilters(host=args.host, guest=args.guest, driver=args.driver, op=args.op,
                           outcome=args.outcome, since=args.since, until=args.until, q=args.q)
    rows = iter_events(_db(args), filters, args.order)
    if args.limit:
        rows = (r for i, r in zip(range(args.limit), rows))
    fmt = "ndjson" if args.format == "json" else args.format
    for chunk in chunks(fmt, rows):
        sys.stdout.write(chunk)
    return 0


def cmd_verify(args) -> int:
    from app.services.verify import verify_all

    if args.export:   # offline: an auditor's export file, no database needed
        from app.services.retention_cli import verify_export_cmd

        return verify_export_cmd(args.export, _settings(args).secret_key)

    results = verify_all(_db(args), _settings(args).secret_key, args.host or None)
    for r in results:
        if r["ok"]:
            print(f"{r['host']}: ok ({r['events']} events)")
        else:
            bad = r["first_bad"]
            print(f"{r['host']}: {r['problems']} bad event(s) of {r['events']}; first bad: "
                  f"seq {bad['seq']} event {bad['event_id']}: {'; '.join(bad['problems'])}")
    return 0 if all(r["ok"] for r in results) else 2


def _add_query(sub) -> None:
    events = sub.add_parser("events", help="query the audit trail")
    p = events.add_subparsers(dest="events_cmd", required=True).add_parser(
        "query", help="events matching filters, as NDJSON (default) or CSV")
    for name in ("host", "guest", "driver", "op", "outcome"):
        p.add_argument(f"--{name}", action="append", default=[],
                       help=f"{name} (repeat for any of several)")
    p.add_argument("--since", help="ISO time, UTC if no zone")
    p.add_argument("--until", help="ISO time, UTC if no zone")
    p.add_argument("-q", help="text in reason or stderr")
    p.add_argument("--format", choices=("ndjson", "json", "csv"), default="ndjson")
    p.add_argument("--order", choices=("desc", "asc"), default="desc")
    p.add_argument("--limit", type=int, default=0, help="at most this many (0 = all)")
    p.set_defaults(func=cmd_events_query)
    p = sub.add_parser("verify", help="re-check every host's hash chain; name the first bad event")
    p.add_argument("--host", action="append", default=[], help="only this host (repeatable)")
    p.add_argument("--export", metavar="FILE", help="check an export file (`hookaudit export`) "
                   "offline instead of the database")
    p.set_defaults(func=cmd_verify)


# ---- entry point -----------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hookaudit", description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="overrides HOOKAUDIT_DATABASE_URL")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_serve, _add_db, _add_accounts, _add_query):
        add(sub)
    for name in EXTENSIONS:
        try:
            module = import_module(name)
        except ImportError:   # a part not installed (or not written yet) adds no commands
            continue
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except ValueError as exc:   # pydantic ValidationError is a ValueError: bad filter values
        return _fail(str(exc))


if __name__ == "__main__":
    sys.exit(main())
