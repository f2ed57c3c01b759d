"""``hookaudit hosts add|list|revoke``, ``users add|passwd|unlock``, ``tokens create``: the rules live in
app/services/accounts.py, the same functions the admin pages call."""
import json
import sys

from app.cli.common import database_of, fail, settings_of
from app.services import accounts, login_throttle
from app.services.hosts import list_hosts


def cmd_hosts_add(args) -> int:
    try:
        with database_of(args).session(write=True) as s:
            token = accounts.add_host(s, args.name, rotate=args.rotate)
    except accounts.AccountError as exc:
        return fail(str(exc))
    print(token)   # shown once: only its hash is stored
    print(f"host {args.name!r}: put this token in the shim's token_file; it is not shown again",
          file=sys.stderr)
    return 0


def cmd_hosts_list(args) -> int:
    with database_of(args).session() as s:
        hosts = list_hosts(s, settings_of(args))
    if args.json:
        print(json.dumps(hosts, indent=2))
        return 0
    print(f"{'NAME':24} {'HEALTH':12} {'LAST SEEN':28} {'LAST SEQ':>9} {'GAPS':>5} SHIM")
    for h in hosts:
        print(f"{h['name']:24} {h['health']:12} {h['last_seen_at'] or '-':28} "
              f"{h['last_seq'] or 0:>9} {h['missing_events']:>5} {h['shim_version'] or '-'}")
    return 0


def cmd_hosts_revoke(args) -> int:
    try:
        with database_of(args).session(write=True) as s:
            accounts.revoke_host(s, args.name)
    except accounts.AccountError as exc:
        return fail(str(exc))
    print(f"host {args.name!r} revoked: its token no longer ingests")
    return 0


def cmd_users_add(args) -> int:
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
    if args.password_stdin and not password:
        return fail("empty password on stdin")
    try:
        with database_of(args).session(write=True) as s:
            accounts.add_user(s, args.name, args.role, password)
    except accounts.AccountError as exc:
        return fail(str(exc))
    print(f"user {args.name!r} added with role {args.role}")
    return 0


def cmd_users_passwd(args) -> int:
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
    if args.password_stdin and not password:
        return fail("empty password on stdin")
    try:
        with database_of(args).session(write=True) as s:
            accounts.set_password(s, args.name, password)
    except accounts.AccountError as exc:
        return fail(str(exc))
    what = "has a new password" if password else "can no longer log in to the dashboard"
    print(f"user {args.name!r} {what}; their dashboard sessions have ended")
    return 0


def cmd_users_unlock(args) -> int:
    with database_of(args).session(write=True) as s:
        login_throttle.clear_user(s, args.name)
    print(f"failed logins of {args.name!r} forgotten: the account may log in again now")
    return 0


def cmd_tokens_create(args) -> int:
    try:
        with database_of(args).session(write=True) as s:
            token = accounts.create_user_token(s, args.user, args.label)
    except accounts.AccountError as exc:
        return fail(str(exc))
    print(token)
    return 0


def add_parser(sub) -> None:
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
    us = users.add_subparsers(dest="users_cmd", required=True)
    p = us.add_parser("add", help="add a user")
    p.add_argument("name")
    p.add_argument("--role", choices=("viewer", "admin"), default="viewer")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the password (for dashboard login) from the first stdin line")
    p.set_defaults(func=cmd_users_add)
    p = us.add_parser("passwd", help="set a user's dashboard password (ends their sessions)")
    p.add_argument("name")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the new password from the first stdin line; without it the "
                        "user keeps API tokens only")
    p.set_defaults(func=cmd_users_passwd)
    p = us.add_parser("unlock", help="forget a user's failed logins (login throttling)")
    p.add_argument("name")
    p.set_defaults(func=cmd_users_unlock)
    tokens = sub.add_parser("tokens", help="users' API tokens")
    p = tokens.add_subparsers(dest="tokens_cmd", required=True).add_parser(
        "create", help="create an API token for a user and print it (once)")
    p.add_argument("--user", required=True)
    p.add_argument("--label")
    p.set_defaults(func=cmd_tokens_create)
