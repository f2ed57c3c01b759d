"""``hookshim forward``: the forwarder as a daemon (under systemd) or ``--once``.

hookshim/cli.py hands it everything after ``forward`` and the ``--config`` it parsed.
"""
import argparse
import logging
import os
import signal
import sys

from hookshim.forward import REFUSED_BACKOFF_S, Forwarder

log = logging.getLogger("hookshim.forward")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="hookshim forward",
                                description="Ship the spool to the server; fetch the policy "
                                            "bundle.")
    p.add_argument("--once", action="store_true",
                   help="drain what is spooled now, pull the bundle, heartbeat, then exit"
                        " (exit 1 if events are left unsent)")
    p.add_argument("--timeout", type=float, default=30.0, help="HTTP timeout, seconds")
    p.add_argument("--max-backoff", type=float, default=60.0,
                   help="cap of the retry backoff for transient errors, seconds")
    p.add_argument("--refused-backoff", type=float, default=REFUSED_BACKOFF_S,
                   help="wait after 401/403 (a changed token file ends it early), seconds")
    p.add_argument("--lease", type=float, default=None,
                   help="claim lease, seconds (default max(60, 2*timeout+10))")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(list(argv))


def warn_if_token_exposed(token_file):
    """The token lets anyone write this host's audit trail: it should be mode 0600."""
    try:
        mode = os.stat(token_file).st_mode & 0o777
    except (OSError, TypeError):
        return None
    if mode & 0o077:
        log.warning("token_file %s has mode %03o: anyone who can read it can write this host's "
                    "audit trail; chmod 600 it", token_file, mode)
    return mode


def main(config_path, argv=()):
    """``hookshim forward``: daemon until SIGTERM/SIGINT (then exit 0), or ``--once``."""
    from hookshim.config import ConfigError, load_config

    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="hookshim forward: %(levelname)s %(message)s")
    try:
        config = load_config(config_path)
        fwd = Forwarder(config, timeout=args.timeout, max_backoff=args.max_backoff,
                        lease_s=args.lease, refused_backoff=args.refused_backoff)
    except (ConfigError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: fwd.stop())
    warn_if_token_exposed(config.token_file)
    log.info("forwarding %s to %s", config.host, config.server_url)
    status = fwd.run(once=args.once)
    log.info("stopped; %d events delivered", fwd.delivered)
    return status


def install_unit(config_path, unit_dir="/etc/systemd/system", python=None, out=None):
    """Write the systemd unit for ``hookshim forward --config <config_path>``; print the
    systemctl commands to start it. Returns the unit's path."""
    from hookshim.systemd import install_unit as _install

    return _install(config_path, unit_dir=unit_dir, python=python, out=out)
