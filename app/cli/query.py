"""``hookaudit events query`` and ``hookaudit verify`` (the database, or an export file)."""
import sys
from itertools import islice

from app.cli.common import database_of, settings_of
from app.cli.verify import add_arguments as add_verify_arguments
from app.cli.verify import verify_cmd
from app.schemas_query import EventFilters
from app.services.events import iter_events
from app.services.export import chunks


def cmd_events_query(args) -> int:
    filters = EventFilters(host=args.host, guest=args.guest, driver=args.driver, op=args.op,
                           outcome=args.outcome, rule=args.rule, verdict=args.verdict,
                           since=args.since, until=args.until, q=args.q)
    rows = iter_events(database_of(args), filters, args.order, aborts=args.aborts)
    if args.limit:
        rows = islice(rows, args.limit)
    fmt = "ndjson" if args.format == "json" else args.format
    for chunk in chunks(fmt, rows):
        sys.stdout.write(chunk)
    return 0


def cmd_verify(args) -> int:
    return verify_cmd(args, settings_of(args), lambda: database_of(args))


def add_parser(sub) -> None:
    events = sub.add_parser("events", help="query the audit trail")
    p = events.add_subparsers(dest="events_cmd", required=True).add_parser(
        "query", help="events matching filters, as NDJSON (default) or CSV")
    for name in ("host", "guest", "driver", "op", "outcome", "rule"):
        p.add_argument(f"--{name}", action="append", default=[],
                       help=f"{name} (repeat for any of several; * and ? glob host and guest)")
    p.add_argument("--verdict", action="append", default=[],
                   choices=("deny", "warn", "dryrun", "mutate", "error"),
                   help="what the rule did (repeat for any of several)")
    p.add_argument("--aborts", action="store_true",
                   help="only aborted, killed and timed-out calls (as GET /api/v1/aborts)")
    p.add_argument("--since", help="ISO time (UTC if no zone), now, or relative: "
                   "--since=-24h (with =: argparse reads -24h as an option)")
    p.add_argument("--until", help="same forms as --since")
    p.add_argument("-q", help="text in reason or stderr")
    p.add_argument("--format", choices=("ndjson", "json", "csv"), default="ndjson")
    p.add_argument("--order", choices=("desc", "asc"), default="desc")
    p.add_argument("--limit", type=int, default=0, help="at most this many (0 = all)")
    p.set_defaults(func=cmd_events_query)
    p = sub.add_parser("verify", help="re-check every host's hash chain; name the bad events")
    add_verify_arguments(p)
    p.set_defaults(func=cmd_verify)
