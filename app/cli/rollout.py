"""``hookaudit shim ...``: the zipapp this server ships, the one-line host install, the
fleet's versions. Registered by app.cli. (Events as JSON lines for a SIEM: ``hookaudit export
--follow``, app/cli/retention.py.)"""
import json
import sys

from app.cli.common import database_of, fail


def add_parser(sub) -> None:
    shim = sub.add_parser("shim", help="the hookshim release this server ships")
    ss = shim.add_subparsers(dest="shim_cmd", required=True)
    p = ss.add_parser("install-line", help="print the one-line install for a host")
    p.add_argument("host", help="host name (registered with `hookaudit hosts add`)")
    p.add_argument("--server", required=True, help="server URL as the host reaches it")
    p.add_argument("--driver", action="append", default=[],
                   help="libvirt driver to hook (repeatable; default libxl)")
    p.add_argument("--new-token", action="store_true",
                   help="issue the host a token now and put it in the line (else the host "
                   "already has /etc/hookshim/token)")
    p.set_defaults(func=cmd_install_line)
    p = ss.add_parser("versions", help="hosts per shim version; hosts behind the server")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_versions)


def cmd_install_line(args) -> int:
    from app.services import accounts, shim_release

    token = None
    if args.new_token:
        try:
            with database_of(args).session(write=True) as s:
                token = accounts.add_host(s, args.host, rotate=True)
        except accounts.AccountError as exc:
            return fail(str(exc))
        print(f"host {args.host!r}: new token issued (the old one no longer works); the line "
              "below holds it: treat it as a secret", file=sys.stderr)
    sha = shim_release.zipapp()["sha256"]
    print(shim_release.install_line(args.server, args.driver or ["libxl"], sha, token))
    return 0


def cmd_versions(args) -> int:
    from app.services import shim_release

    with database_of(args).session() as s:
        data = shim_release.fleet_versions(s, shim_release.zipapp()["version"])
    if args.json:
        print(json.dumps(data, indent=1))
        return 0
    print(f"server ships hookshim {data['server_version']}")
    for row in data["versions"]:
        print(f"{row['version'] or 'unknown':<20} {row['hosts']:>6} host(s)")
    for row in data["behind"]:
        print(f"behind: {row['host']} ({row['shim_version'] or 'unknown'})")
    return 0

