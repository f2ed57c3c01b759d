"""The ``hookshim`` subcommands other than ``run`` and ``forward`` (see cli.py)."""

import json
import os
import sys
import time

from hookshim.config import DEFAULT_PATH, ConfigError, load_config


def _config(path):
    try:
        return load_config(path)
    except ConfigError as exc:
        sys.stderr.write("hookshim: %s\n" % exc)
        raise SystemExit(2)


def _dirs(args, config):
    """--hooks-dir/--state-dir, else what the config says, else the defaults."""
    cfg = _config(config)
    return (os.path.abspath(args.hooks_dir or cfg.hooks_dir),
            os.path.abspath(args.state_dir or cfg.state_dir))


def install(args, config):
    from hookshim.install import install as do_install

    hooks_dir, state_dir = _dirs(args, config)
    unit_dir = None if args.no_unit else (
        args.unit_dir or ("/etc/systemd/system" if config == DEFAULT_PATH else None))
    return do_install(args.drivers, hooks_dir, state_dir, config, python=args.python,
                      server=args.server, token_file=args.token_file, unit_dir=unit_dir,
                      libvirt_version=args.libvirt_version, libvirt_daemon=args.libvirt_daemon,
                      adopt_dot_d=args.adopt_dot_d, reload=args.reload,
                      policy_signers=args.policy_signers)


def uninstall(args, config):
    from hookshim.install import uninstall as do_uninstall

    hooks_dir, _ = _dirs(args, config)
    return do_uninstall(args.drivers, hooks_dir, config=config, reload=args.reload)


def _open_spool(cfg):
    """The spool, or None when nothing was ever recorded (status must not create it)."""
    from hookshim.record import SPOOL_NAME
    from hookshim.spool import Spool

    path = os.path.join(cfg.state_dir, SPOOL_NAME)
    if not os.path.exists(path):
        return None
    return Spool(path, max_bytes=cfg.spool_max_bytes)


EMPTY_STATS = {"depth": 0, "oldest_unsent_age_s": None, "parked": 0, "sent": 0,
               "last_seq": 0, "bytes": 0, "dropped": 0, "last_error": None}


def status(args, config):
    cfg = _config(config)
    spool = _open_spool(cfg)
    stats = dict(spool.stats()) if spool else dict(EMPTY_STATS)
    stats.update(host=cfg.host, spool=os.path.join(cfg.state_dir, "spool.db"),
                 max_bytes=cfg.spool_max_bytes, **_bundle_status(cfg, spool))
    if args.prometheus:
        write_textfile(args.prometheus, stats)
    if args.json:
        print(json.dumps(stats, sort_keys=True))
    else:
        for key in sorted(stats):
            print("%-20s %s" % (key, "-" if stats[key] is None else stats[key]))
    return 0


def _bundle_status(cfg, spool):
    """Which policy bundle the hook enforces, who signed it, and why the forwarder could not
    refresh it (or refused what the server offered)."""
    from hookshim.forward_bundle import bundle_report
    from hookshim.policy import BundleError, load_bundle

    try:
        bundle = load_bundle(cfg.policy_bundle)
        version = (bundle or {}).get("version") or None
        problem = None
    except BundleError as exc:  # the hook fails open on it: say so loudly here
        version, problem = None, str(exc)
    return dict(bundle_report(spool, cfg.policy_signers), bundle_version=version,
                bundle_error=problem or (spool.get_meta("bundle_error") if spool else None))


METRICS = (
    ("hookshim_spool_depth", "gauge", "depth", "Events recorded but not yet acknowledged."),
    ("hookshim_spool_oldest_unsent_age_seconds", "gauge", "oldest_unsent_age_s",
     "Age of the oldest unacknowledged event (0 when none)."),
    ("hookshim_spool_parked", "gauge", "parked", "Events the server rejected for good."),
    ("hookshim_spool_dropped_total", "counter", "dropped",
     "Hook calls whose details were dropped because the spool was full."),
    ("hookshim_spool_last_seq", "gauge", "last_seq", "Sequence number of the last event."),
    ("hookshim_spool_bytes", "gauge", "bytes", "Bytes of event JSON held in the spool."),
)


def render_textfile(stats):
    """node-exporter textfile collector format."""
    host = stats["host"].replace("\\", "\\\\").replace('"', '\\"')
    lines = []
    for name, kind, key, help_text in METRICS:
        lines += ["# HELP %s %s" % (name, help_text), "# TYPE %s %s" % (name, kind),
                  '%s{host="%s"} %s' % (name, host, stats.get(key) or 0)]
    return "\n".join(lines) + "\n"


def write_textfile(path, stats):
    """Atomically: node-exporter may read the file at any moment."""
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(render_textfile(stats))
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def spool(args, config):
    cfg = _config(config)
    sp = _open_spool(cfg)
    if args.spool_command == "unpark":
        print("%d parked events back to ready" % (sp.unpark() if sp else 0))
        return 0
    rows = sp.rows(limit=args.limit, state=args.state) if sp else []
    for meta, event in rows:
        if args.json:
            sys.stdout.write(json.dumps(event, sort_keys=True, ensure_ascii=False) + "\n")
        else:
            sys.stdout.write(_line(meta, event) + "\n")
    return 0


def _line(meta, ev):
    cells = [str(ev.get("seq")), meta["state"], ev.get("started_at") or "-",
             ev.get("driver") or "-", ev.get("object") or "-",
             "%s/%s" % (ev.get("op"), ev.get("subop")), str(ev.get("exit_code")),
             ev.get("outcome") or "-", ev.get("kind") if ev.get("kind") != "hook" else "",
             ev.get("reason") or meta.get("error") or ""]
    return "  ".join(c for c in cells if c)


def now():
    return time.time()
