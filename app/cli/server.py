"""``hookaudit serve``, ``hookaudit db upgrade`` and ``hookaudit db rebuild-histogram``."""
import os

from app.cli.common import database_of, fail, settings_of


def cmd_serve(args) -> int:
    if args.workers > 1 and not settings_of(args).secret_key:
        # Each worker would invent its own session key: a cookie signed by one worker is
        # refused by the others, and half the dashboard requests bounce to the login page.
        return fail(f"--workers {args.workers} needs HOOKAUDIT_SECRET_KEY: every worker must "
                    "sign dashboard sessions with the same key. Set it (e.g. "
                    "HOOKAUDIT_SECRET_KEY=$(openssl rand -hex 32)) or run one worker.")
    import uvicorn  # only the serve command needs it

    if args.database_url:   # the workers build their own Settings from the environment
        os.environ["HOOKAUDIT_DATABASE_URL"] = args.database_url
    uvicorn.run("app.main:create_app", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level=settings_of(args).log_level,
                proxy_headers=True, forwarded_allow_ips=args.forwarded_allow_ips)
    return 0


def cmd_db_upgrade(args) -> int:
    from app.migrate import upgrade

    upgrade(settings_of(args).database_url, args.revision)
    print(f"database at revision {args.revision}")
    return 0


def cmd_db_rebuild_histogram(args) -> int:
    from app.services.histogram_rollup import rebuild

    db = database_of(args)
    try:
        with db.session(write=True) as session:
            rows = rebuild(session)
    finally:
        db.dispose()
    print(f"histogram rollup recounted from the events: {rows} row(s)")
    return 0


def add_serve(sub) -> None:
    p = sub.add_parser("serve", help="run the API and dashboard (uvicorn)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    p.add_argument("--forwarded-allow-ips", default="127.0.0.1",
                   help="proxies trusted for X-Forwarded-* headers")
    p.set_defaults(func=cmd_serve)


def add_db(sub) -> None:
    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_cmd", required=True)
    p = db.add_parser("upgrade", help="apply the Alembic migrations (creates the schema)")
    p.add_argument("revision", nargs="?", default="head")
    p.set_defaults(func=cmd_db_upgrade)
    p = db.add_parser("rebuild-histogram", help="recount the histograms' rollup (half hours "
                      "and 3 hours) from the stored events (after restoring events by hand; "
                      "ingest and retention keep it otherwise)")
    p.set_defaults(func=cmd_db_rebuild_histogram)
