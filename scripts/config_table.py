#!/usr/bin/env python3
"""Write the configuration tables of README.md from the code, so they cannot drift.

    python scripts/config_table.py          # rewrite the tables in README.md
    python scripts/config_table.py --check  # exit 1 if README.md is out of date (tests do this)

Server settings come from ``app.config.Settings`` (env ``HOOKAUDIT_<FIELD>``, with each field's
description); shim keys from ``hookshim.config.KEYS`` with their one-line meanings below.
"""
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# One line per shim key; tests/test_docs.py fails when a key has no line here.
SHIM_KEYS = {
    "host": "host name stamped on every event (default: the machine's hostname)",
    "state_dir": "spool (`spool.db`), policy bundle and adoption state",
    "hooks_dir": "libvirt's hooks directory",
    "libvirt_version": "libvirt release of this host, e.g. `9.0.0` (written by `hookshim install`); outcomes are read per version, unknown = the safest reading",
    "libvirt_daemon": "`libvirtd` (monolithic daemon) or `split` (per-driver daemons: virtqemud, virtxend, virtlxcd, virtnetworkd, virtbhyved); written by `hookshim install`",
    "spool_max_bytes": "spool size cap; past it sent rows go first, then an `overflow` marker counts lost calls",
    "stdin_max_bytes": "largest XML stored per call (scripts and policy always see all of it)",
    "stderr_max_bytes": "stderr kept per adopted script",
    "script_timeout": "kill an adopted script's process group after this long (0 = wait forever, like libvirt)",
    "on_internal_error": "`passthrough` (answer as the adopted scripts did), `allow` or `deny` when the shim itself fails",
    "on_record_failure": "`allow` or `deny` when the spool cannot be written (disk full, read-only, a damaged spool that could not be reset)",
    "handoff": "hand each call's event to the running forwarder over `<state_dir>/spool.sock`, which commits it (docs/hookshim.md#hook-storms); false: every call writes the spool itself",
    "handoff_timeout": "how long a call waits for the forwarder's acknowledgement before it writes the spool itself",
    "redact_extra": "extra redaction rules, one per line (docs/hookshim.md#redaction)",
    "policy_bundle": "compiled policy bundle the hook enforces (default `<state_dir>/policy-bundle.json`)",
    "policy_signers": "OpenSSH allowed_signers file of the operators who may sign policy bundles (written by `hookshim install --policy-signers`); unset: unsigned bundles accepted, with a warning (docs/policies.md#signed-bundles)",
    "server_url": "hookaudit server the forwarder ships to",
    "token_file": "file holding the host's ingest token (mode 0600)",
    "ca_file": "CA bundle for a private CA",
    "verify_tls": "verify the server's certificate and name",
    "batch_size": "events per ingest request",
    "batch_max_bytes": "bytes per ingest request",
    "interval": "forwarder poll interval when the spool is empty",
    "heartbeat_interval": "how often the forwarder reports spool health",
    "bundle_interval": "how often the forwarder asks for a new policy bundle (ETag)",
    "sent_retention": "keep delivered events in the spool this long",
    "sent_max_rows": "keep at most this many delivered events in the spool",
    "syslog_url": "also send every delivered event to syslog as RFC 5424: `udp://host[:port]`, `tcp://host[:port]` or `unix:///dev/log` (docs/fleet.md#syslog)",
    "syslog_facility": "syslog facility of those messages (`local0`..`local7`, `daemon`, ...)",
}


def _default(value):
    if value in (None, "", ()):
        return "—"
    return "`%s`" % (value,)


def server_table():
    from app.config import Settings

    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        meaning = (field.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append("| `HOOKAUDIT_%s` | %s | %s |" % (name.upper(), _default(field.default), meaning))
    return "\n".join(rows)


def shim_table():
    from hookshim.config import KEYS

    rows = ["| key | default | meaning |", "|---|---|---|"]
    for key, (_parser, default) in KEYS.items():
        rows.append("| `%s` | %s | %s |" % (key, _default(default), SHIM_KEYS.get(key, "")))
    return "\n".join(rows)


def render(text):
    for name, table in (("server", server_table()), ("shim", shim_table())):
        start, end = "<!-- config:%s -->" % name, "<!-- /config:%s -->" % name
        head, _, rest = text.partition(start)
        _, _, tail = rest.partition(end)
        text = "%s%s\n%s\n%s%s" % (head, start, table, end, tail)
    return text


def main(argv):
    readme = REPO / "README.md"
    text = readme.read_text()
    new = render(text)
    if "--check" in argv:
        if new != text:
            print("README.md configuration tables are out of date: python scripts/config_table.py")
            return 1
        return 0
    readme.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
