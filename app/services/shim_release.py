"""The hookshim release this server ships: its zipapp, the one-line host install, and which
hosts run an older shim (the fleet's versions). Knows nothing of HTTP."""
import hashlib
import re
import shlex
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session

import hookshim
from app.models import Host

ZIPAPP_PATH = "/api/v1/shim/hookshim.pyz"
HOST_PYZ = "/tmp/hookshim.pyz"
TOKEN_FILE = "/etc/hookshim/token"
# install writes the unit (naming the new release); a restart makes a running forwarder use it.
START_FORWARDER = ["systemctl daemon-reload", "systemctl enable hookshim-forward.service",
                   "systemctl restart hookshim-forward.service"]


@lru_cache(maxsize=1)
def zipapp() -> dict:
    """{"version", "sha256", "size", "data"} of the zipapp built from the hookshim package
    this server runs (hookshim/zipapp.py: the same bytes ``make dist`` gives)."""
    from hookshim.zipapp import build

    data = build()
    return {"version": hookshim.__version__, "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data), "data": data}


def describe(base_url: str) -> dict:
    z = zipapp()
    return {"version": z["version"], "sha256": z["sha256"], "size": z["size"],
            "url": base_url.rstrip("/") + ZIPAPP_PATH}


def install_line(server_url: str, drivers: list[str], sha256: str,
                 token: str | None = None) -> str:
    """The shell line that downloads the zipapp, checks its SHA-256, installs it with the
    host's token (written to TOKEN_FILE first when ``token`` is given) and (re)starts the
    forwarder. Run again with a newer server, it is the upgrade."""
    q, url = shlex.quote, server_url.rstrip("/")
    steps = [f"curl -fsSLo {HOST_PYZ} {q(url + ZIPAPP_PATH)}",
             f"echo {q(sha256 + '  ' + HOST_PYZ)} | sha256sum -c --quiet -"]
    if token is not None:
        steps.append(f"install -d -m 0700 /etc/hookshim && (umask 077; "
                     f"printf '%s\\n' {q(token)} > {TOKEN_FILE})")
    steps.append(f"python3 -I {HOST_PYZ} install --server {q(url)} --token-file {TOKEN_FILE} "
                 + " ".join(q(d) for d in drivers))
    steps += START_FORWARDER
    return " && ".join(steps)


def version_key(version: str | None) -> tuple:
    """Sort key of a version: its numbers in order ("0.10.1" after "0.9.3"); None first."""
    if not version:
        return ()
    return tuple(int(n) for n in re.findall(r"\d+", version.split("+")[0])) or (0,)


def server_version() -> str:
    """The hookshim version this server ships (its zipapp's), without building the zipapp."""
    return hookshim.__version__


def is_behind(version: str | None, server_version: str) -> bool:
    """A host is behind when it never reported a version or reports an older one."""
    return version_key(version) < version_key(server_version)


def fleet_versions(session: Session, server_version: str) -> dict:
    """Hosts per shim version (newest first) and the hosts behind ``server_version``."""
    rows = session.execute(select(Host.name, Host.shim_version)
                           .where(Host.revoked_at.is_(None)).order_by(Host.name)).all()
    counts: dict = {}
    for _, version in rows:
        counts[version] = counts.get(version, 0) + 1
    versions = sorted(counts.items(), key=lambda kv: version_key(kv[0]), reverse=True)
    return {"server_version": server_version,
            "versions": [{"version": v, "hosts": n} for v, n in versions],
            "behind": [{"host": name, "shim_version": v} for name, v in rows
                       if is_behind(v, server_version)]}
