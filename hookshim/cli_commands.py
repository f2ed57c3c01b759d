"""The ``hookshim`` subcommands other than ``run`` and ``forward`` (see cli.py)."""

import json
import os
import sys
import time

from hookshim.config import DEFAULT_PATH, ConfigError, load_config
from hookshim.forward_bundle import META_BUNDLE_ERROR


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


def _spool_path(cfg):
    from hookshim.spool import SPOOL_NAME

    return os.path.join(cfg.state_dir, SPOOL_NAME)


def _open_spool(cfg):
    """The spool, or None when nothing was ever recorded (status must not create it).
    A damaged spool raises SpoolDamaged: only the hook and the forwarder reset it."""
    from hookshim.spool import Spool

    path = _spool_path(cfg)
    if not os.path.exists(path):
        return None
    return Spool(path, max_bytes=cfg.spool_max_bytes, recover=False)


DAMAGED_HINT = ("the next hook call or `hookshim forward` keeps it aside as spool.db.corrupt-"
                "<time> and starts a fresh spool whose first event declares the reset")


def _reads(fn):
    """``fn()``, with SQLite's damage errors (met past the open, in a damaged table) raised as
    SpoolDamaged; a lock or an I/O error stays what it is."""
    from hookshim.spool import SpoolDamaged, sqlite3
    from hookshim.spool_schema import is_corrupt

    try:
        return fn()
    except sqlite3.DatabaseError as exc:
        if is_corrupt(exc):
            raise SpoolDamaged("spool: %s" % exc) from None
        raise


def _damaged(exc):
    """A one-line report instead of a traceback; exit status 1."""
    sys.stderr.write("hookshim: the spool is DAMAGED: %s\nhookshim: %s\n" % (exc, DAMAGED_HINT))
    return 1


EMPTY_STATS = {"depth": 0, "oldest_unsent_age_s": None, "parked": 0,
               "oldest_parked_age_s": None, "sent": 0, "last_seq": 0, "bytes": 0,
               "dropped": 0, "last_error": None, "last_reset": None}


def status(args, config):
    """Spool health; exit 1 (with the same report) when the spool file is damaged."""
    from hookshim.spool import SpoolDamaged

    cfg = _config(config)
    try:
        spool = _open_spool(cfg)
        stats = dict(_reads(spool.stats)) if spool else dict(EMPTY_STATS)
        damaged = None
    except SpoolDamaged as exc:
        spool, stats, damaged = None, dict(EMPTY_STATS, last_seq=None), str(exc)
    stats.update(host=cfg.host, spool=_spool_path(cfg), max_bytes=cfg.spool_max_bytes,
                 spool_damaged=damaged, handoff=handoff_state(cfg), **_bundle_status(cfg, spool))
    if args.prometheus:
        write_textfile(args.prometheus, stats)
    if args.json:
        print(json.dumps(stats, sort_keys=True))
    else:
        for key in sorted(stats):
            print("%-20s %s" % (key, _cell(stats[key])))
    return _damaged(damaged) if damaged else 0


def handoff_state(cfg):
    """Whether hook calls hand their events to a forwarder now (hookshim/handoff.py):
    ``listening``, ``no forwarder``, ``stale socket`` (a forwarder died: calls write
    directly), ``off`` (handoff = false) or ``unreachable: <error>``."""
    import socket

    from hookshim.handoff import SOCKET

    if not cfg.handoff:
        return "off"
    path = os.path.join(cfg.state_dir, SOCKET)
    if not os.path.exists(path):
        return "no forwarder"
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)   # closed without a word: the listener drops it
        return "listening"
    except ConnectionRefusedError:
        return "stale socket"
    except OSError as exc:
        return "unreachable: %s" % exc
    finally:
        probe.close()


def _cell(value):
    if isinstance(value, dict):
        return ", ".join("%s=%s" % (k, value[k]) for k in sorted(value))
    return "-" if value is None else value


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
                bundle_error=problem or (spool.get_meta(META_BUNDLE_ERROR) if spool else None))


METRICS = (
    ("hookshim_spool_depth", "gauge", "depth", "Events recorded but not yet acknowledged."),
    ("hookshim_spool_oldest_unsent_age_seconds", "gauge", "oldest_unsent_age_s",
     "Age of the oldest unacknowledged event (0 when none)."),
    ("hookshim_spool_parked", "gauge", "parked", "Events the server rejected for good."),
    ("hookshim_spool_damaged", "gauge", "spool_damaged",
     "1 while the spool file is damaged (the next hook call or the forwarder resets it)."),
    ("hookshim_spool_dropped_total", "counter", "dropped",
     "Hook calls whose details were dropped because the spool was full."),
    ("hookshim_spool_last_seq", "gauge", "last_seq", "Sequence number of the last event."),
    ("hookshim_spool_bytes", "gauge", "bytes", "Bytes of event JSON held in the spool."),
    ("hookshim_policy_bundle_refused", "gauge", "bundle_refused",
     "1 while the policy bundle on the host is unusable or the last one fetched was refused."),
    ("hookshim_handoff_listening", "gauge", "handoff_listening",
     "1 while the forwarder takes hook calls' events over its socket (else calls write "
     "the spool themselves)."),
)


def render_textfile(stats):
    """node-exporter textfile collector format."""
    host = stats["host"].replace("\\", "\\\\").replace('"', '\\"')
    stats = dict(stats, bundle_refused=1 if stats.get("bundle_error") else 0,
                 handoff_listening=1 if stats.get("handoff") == "listening" else 0)
    lines = []
    for name, kind, key, help_text in METRICS:
        lines += ["# HELP %s %s" % (name, help_text), "# TYPE %s %s" % (name, kind),
                  '%s{host="%s"} %s' % (name, host, _number(stats.get(key)))]
    return "\n".join(lines) + "\n"


def write_textfile(path, stats):
    """Atomically: node-exporter may read the file at any moment."""
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(render_textfile(stats))
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _number(value):
    if isinstance(value, str):   # spool_damaged: the error text
        return 1
    return value or 0


def spool(args, config):
    from hookshim.spool import SpoolDamaged

    cfg = _config(config)
    try:
        sp = _open_spool(cfg)
        if args.spool_command == "unpark":
            print("%d parked events back to ready" % (sp.unpark() if sp else 0))
            return 0
        if args.spool_command == "parked":
            return _reads(lambda: _parked(sp, args))
        rows = _reads(lambda: sp.rows(limit=args.limit, state=args.state)) if sp else []
    except SpoolDamaged as exc:
        return _damaged(exc)
    _print_rows(rows, args.json)
    return 0


def _print_rows(rows, as_json):
    for meta, event in rows:
        if as_json:
            sys.stdout.write(json.dumps(event, sort_keys=True, ensure_ascii=False) + "\n")
        else:
            sys.stdout.write(_line(meta, event) + "\n")


def _parked(sp, args):
    """``spool parked``: every parked event, one line each with the server's reason (oldest
    first); ``--show ID``: that one event in full with its reason. Exit 1: no such event."""
    if args.show is None:
        _print_rows(sp.rows(limit=10**9, state="parked") if sp else [], args.json)
        return 0
    rows = sp.rows(limit=1, event_id=args.show) if sp else []
    if not rows or rows[0][0]["state"] != "parked":
        sys.stderr.write("hookshim: no parked event %s\n" % args.show)
        return 1
    meta, event = rows[0]
    recorded = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(meta["created"]))
    print(json.dumps({"server_said": meta["error"], "recorded_at": recorded, "event": event}, sort_keys=True, ensure_ascii=False, indent=1))
    return 0


def _line(meta, ev):
    cells = [str(ev.get("seq")), meta["state"], ev.get("started_at") or "-",
             ev.get("driver") or "-", ev.get("object") or "-",
             "%s/%s" % (ev.get("op"), ev.get("subop")), str(ev.get("exit_code")),
             ev.get("outcome") or "-", ev.get("kind") if ev.get("kind") != "hook" else "",
             ev.get("reason") or meta.get("error") or ""]
    return "  ".join(c for c in cells if c)
