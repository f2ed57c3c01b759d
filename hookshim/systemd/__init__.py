"""The systemd unit that runs ``hookshim forward`` on a host.

``render_unit`` fills in the template; ``install_unit`` writes it (the unit directory is a
parameter so tests and packagers can aim it elsewhere) and prints the systemctl commands
rather than running them: installing must not start network traffic behind an operator's
back, and a host without systemd (a container, a BSD running bhyve) still gets the file.
"""
import os
import sys

UNIT_NAME = "hookshim-forward.service"

# Why each setting:
# - Restart=always + RestartSec: the forwarder must come back after any crash or OOM kill;
#   the spool keeps events meanwhile, so a short pause costs nothing.
# - StartLimitIntervalSec=0: never give up restarting (a long server outage is not a reason
#   to stop forwarding for good).
# - TimeoutStopSec: SIGTERM lets the batch in flight finish; that is bounded by the HTTP
#   timeout (30 s by default), so give it more than that before SIGKILL.
# - Hardening: the forwarder needs the network, read access to its config/token/CA and write
#   access to the state directory (spool) and the bundle's directory. Nothing else.
UNIT_TEMPLATE = """\
# Written by hookshim install. The forwarder ships the libvirt hook spool to the server
# and fetches the policy bundle. Docs: docs/fleet.md in the hookaudit repository.
[Unit]
Description=hookaudit forwarder (libvirt hook spool -> server)
Wants=network-online.target
After=network-online.target
StartLimitIntervalSec=0

[Service]
Type=simple
Environment=PYTHONPATH={pythonpath}
ExecStart={python} -m hookshim forward --config {config}
Restart=always
RestartSec=5
TimeoutStopSec=90
KillMode=mixed
UMask=0077
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths={rw_paths}
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
SystemCallArchitectures=native
CapabilityBoundingSet=

[Install]
WantedBy=multi-user.target
"""


def _package_root():
    """The directory that holds the ``hookshim`` package (for PYTHONPATH)."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def render_unit(config_path, python=None):
    """The unit text for this host's config (its state dir and bundle dir become writable)."""
    from hookshim.config import load_config

    config = load_config(config_path)
    rw = sorted({os.path.abspath(config.state_dir),
                 os.path.dirname(os.path.abspath(config.policy_bundle))})
    return UNIT_TEMPLATE.format(python=python or sys.executable,
                                config=os.path.abspath(config_path),
                                pythonpath=_package_root(), rw_paths=" ".join(rw))


def install_unit(config_path, unit_dir="/etc/systemd/system", python=None, out=None):
    """Write ``<unit_dir>/hookshim-forward.service``; print how to start it; return its path."""
    out = out or sys.stdout
    os.makedirs(unit_dir, exist_ok=True)
    path = os.path.join(unit_dir, UNIT_NAME)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(render_unit(config_path, python))
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    out.write("wrote %s; start the forwarder with:\n"
              "  systemctl daemon-reload\n"
              "  systemctl enable --now %s\n"
              "  systemctl status %s   # journalctl -u %s for its log\n"
              % (path, UNIT_NAME, UNIT_NAME, UNIT_NAME))
    return path
