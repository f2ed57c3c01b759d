"""``hookshim`` command line (also ``python3 -m hookshim``). Not the hook path: the
launcher calls ``hookshim.hook.launch`` directly; ``hookshim run`` is the same call.

    hookshim [--config C] install [--hooks-dir D] [--state-dir S] [--python P]
                                  [--server URL] [--token-file F] [--unit-dir U]
                                  [--libvirt-version X.Y.Z] [--libvirt-daemon libvirtd|split]
                                  [--adopt-dot-d] [--reload] DRIVER...
    hookshim [--config C] uninstall [--hooks-dir D] [--reload] DRIVER...
    hookshim [--config C] status [--json] [--prometheus PATH]
    hookshim [--config C] spool list [--json] [--limit N] [--state S]
    hookshim [--config C] spool parked [--show EVENT_ID] [--json]
    hookshim [--config C] spool unpark
    hookshim [--config C] run DRIVER OBJECT OP SUBOP EXTRA     (XML on stdin)
    hookshim [--config C] forward [forwarder options]
"""

import os
import sys

from hookshim.config import DEFAULT_PATH


def _parser():
    import argparse

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS,
                        help="shim configuration file (default %s)" % DEFAULT_PATH)
    p = argparse.ArgumentParser(prog="hookshim", parents=[common],
                                description="libvirt hook shim: record, police, adopt hooks")
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("install", "uninstall"):
        s = sub.add_parser(name, parents=[common], help="%s the launcher per driver" % name)
        s.add_argument("--hooks-dir", help="libvirt's hooks directory (/etc/libvirt/hooks)")
        s.add_argument("--state-dir", help="spool and bundle directory (/var/lib/hookshim)")
        s.add_argument("--reload", action="store_true",
                       help="make the daemon that runs the driver rescan the hooks "
                            "(systemctl reload, else SIGHUP) when it must")
        s.add_argument("drivers", nargs="+", metavar="DRIVER")
    inst = sub.choices["install"]
    inst.add_argument("--python", help="interpreter the launcher runs (/usr/bin/python3)")
    inst.add_argument("--server", help="server URL for the forwarder (written to the config)")
    inst.add_argument("--token-file", help="host token file for the forwarder")
    inst.add_argument("--policy-signers", metavar="FILE",
                      help="OpenSSH allowed_signers of the operators who sign policy bundles")
    inst.add_argument("--unit-dir", help="install the forwarder's systemd unit here")
    inst.add_argument("--no-unit", action="store_true", help="never install the systemd unit")
    inst.add_argument("--libvirt-version", metavar="X.Y.Z",
                      help="libvirt release on this host (default: detected)")
    inst.add_argument("--libvirt-daemon", choices=("libvirtd", "split"),
                      help="monolithic libvirtd or split daemons (default: detected)")
    inst.add_argument("--adopt-dot-d", action="store_true",
                      help="adopt <driver>.d even where libvirt never ran it (before 6.5.0 or "
                           "version unknown)")
    st = sub.add_parser("status", parents=[common], help="spool statistics")
    st.add_argument("--json", action="store_true")
    st.add_argument("--prometheus", metavar="PATH", help="also write a node-exporter textfile")
    sp = sub.add_parser("spool", parents=[common], help="inspect the spool")
    spsub = sp.add_subparsers(dest="spool_command", required=True)
    ls = spsub.add_parser("list", parents=[common], help="events, oldest first (NDJSON: --json)")
    ls.add_argument("--json", action="store_true")
    ls.add_argument("--limit", type=int, default=100)
    ls.add_argument("--state", choices=("ready", "locked", "sent", "parked"))
    pk = spsub.add_parser("parked", parents=[common],
                          help="events the server refused for good, with its reason")
    pk.add_argument("--show", metavar="EVENT_ID", help="one parked event in full (JSON)")
    pk.add_argument("--json", action="store_true")
    spsub.add_parser("unpark", parents=[common], help="parked events back to ready")
    run = sub.add_parser("run", parents=[common], help="one hook call, exactly as libvirtd")
    for name in ("driver", "object", "op", "subop", "extra"):
        run.add_argument(name)
    return p


def _split_forward(argv):
    """``forward`` passes everything after it to the forwarder's own parser."""
    config, i = DEFAULT_PATH, 0
    while i < len(argv) and argv[i].startswith("--config"):
        config, i = _option_value(argv, i)
    if i < len(argv) and argv[i] == "forward":
        rest, out = argv[i + 1:], []
        j = 0
        while j < len(rest):
            if rest[j].startswith("--config"):
                config, j = _option_value(rest, j)
            else:
                out.append(rest[j])
                j += 1
        return config, out
    return None


def _option_value(argv, i):
    if "=" in argv[i]:
        return argv[i].split("=", 1)[1], i + 1
    return (argv[i + 1] if i + 1 < len(argv) else DEFAULT_PATH), i + 2


def main(argv=None):
    """Run one command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    forward = _split_forward(argv)
    if forward is not None:
        from hookshim import forward_cli as fwd  # lazily: it needs more than the hook does

        return fwd.main(forward[0], forward[1])
    args = _parser().parse_args(argv)
    config = os.path.abspath(getattr(args, "config", DEFAULT_PATH))
    if args.command == "run":
        from hookshim.hook import main as hook_main

        return hook_main([args.object, args.op, args.subop, args.extra], config, args.driver)
    from hookshim import cli_commands

    return getattr(cli_commands, args.command.replace("-", "_"))(args, config)


if __name__ == "__main__":
    sys.exit(main())
