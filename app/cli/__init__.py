"""``hookaudit``: the server's command line.

Every command group is one module with an ``add_parser(subparsers)``, listed in GROUPS.
Commands read Settings from ``HOOKAUDIT_*`` like the server, ``--database-url`` overrides
(app/cli/common.py).
"""
import argparse

from app.cli import accounts, anchors, facts, query, retention, rollout, server
from app.cli.common import fail
from app.demo import cli as demo_cli
from app.policy import cli as policy_cli

# Each adds its subcommands to the parser, in this order (the order of `hookaudit --help`).
GROUPS = [server.add_serve, server.add_db, accounts.add_parser, query.add_parser,
          policy_cli.add_parser, demo_cli.add_parser, retention.add_parser,
          anchors.add_parser, rollout.add_parser, facts.add_parser]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hookaudit", description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="overrides HOOKAUDIT_DATABASE_URL")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in GROUPS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except ValueError as exc:   # pydantic ValidationError is a ValueError: bad filter values
        return fail(str(exc))
