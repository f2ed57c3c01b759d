"""Execute scenario actions as the hook calls libvirtd would make, through the installed shims.

The driver is the "libvirtd" of the simulation: it holds each guest's current definition (which
an incoming-migration filter may rewrite), expands an action into calls with
``app.demo.lifecycle``, runs them on the right hosts, and follows libvirt's failure semantics.
"""
from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

from app.demo import lifecycle
from app.demo.corpus import first_interface, insecure, with_interface, with_mac, with_memory
from app.demo.fleet import Fleet
from app.demo.scenario import Action
from app.demo.simhost import CallResult, SimHost
from hookshim import outcome


class Driver:
    def __init__(self, fleet: Fleet, hosts: dict[str, SimHost],
                 on_call: Callable[[str, CallResult], None] | None = None):
        self.fleet = fleet
        self.hosts = hosts
        self.xml = {g.name: g.xml for g in fleet.guests}  # current definition, secure form
        self.on_call = on_call
        self.stats: Counter = Counter()   # calls, failed calls, rewrites
        self._lock = threading.Lock()

    def execute(self, action: Action, running_on: Callable[[str], list[str]] = lambda h: []) -> bool:
        """Run one action; False when a hook refused or aborted it (libvirt would report an error)."""
        kind, host, guest = action.kind, action.host, action.guest
        if kind in ("offline", "online"):
            return True
        if kind == "daemon_start":
            self._call(host, "daemon", "-", *lifecycle.DAEMON_START, "")
            return True
        if kind == "daemon_restart":
            return self._daemon_restart(host, running_on(host))
        if kind in ("boot", "restore"):
            return self._start(host, guest, "restore" if kind == "restore" else None)
        if kind in ("shutdown", "destroy", "save"):
            reason = {"shutdown": "shutdown", "destroy": "destroyed", "save": "saved"}[kind]
            self._stop(host, guest, reason)
            return True
        if kind == "reboot":
            self._stop(host, guest, "shutdown")
            return self._start(host, guest)
        if kind == "migrate":
            return self._migrate(host, action.target, guest)
        if kind == "redefine":
            self.xml[guest] = self.redefined(guest, action.edit)
            return True
        raise ValueError(f"unknown action {kind!r}")

    def redefined(self, guest: str, edit: tuple) -> str:
        """The guest's definition after an operator's edit (``virsh edit``: no hook call)."""
        xml, what = self.xml[guest], edit[0]
        if what == "mac":
            return with_mac(xml, edit[1])
        if what == "interface_of":
            return with_interface(xml, first_interface(self.xml[edit[1]]))
        if what == "own_interface":
            return with_interface(xml, first_interface(self.fleet.guest(guest).xml))
        if what == "memory":
            return with_memory(xml, edit[1])
        raise ValueError(f"unknown edit {edit!r}")

    def count(self, key: str) -> None:
        with self._lock:
            self.stats[key] += 1

    def _driver(self, host: str) -> str:
        return self.fleet.host(host).driver

    def _call(self, host: str, driver: str, obj: str, op: str, subop: str, extra: str,
              stdin: str) -> CallResult:
        result = self.hosts[host].call(driver, obj, op, subop, extra, stdin)
        with self._lock:
            self.stats["calls"] += 1
            self.stats["failed"] += result.exit_code != 0
        if self.on_call:
            self.on_call(host, result)
        return result

    def _start(self, host: str, guest: str, filter_op: str | None = None) -> bool:
        """prepare/start/started (after the filter, if any); on failure, libvirt's cleanup calls."""
        driver, xml = self._driver(host), self.xml[guest]
        for op, subop, extra in lifecycle.start_calls(driver, filter_op):
            # Only the filter ops get the secure form (migrate) or the save image's (restore).
            stdin = xml if outcome.is_filter(driver, op) else insecure(xml)
            result = self._call(host, driver, guest, op, subop, extra, stdin)
            if result.exit_code != 0:
                for c in lifecycle.after_failure(driver, op):
                    self._call(host, driver, guest, *c, insecure(xml))
                return False
            if outcome.is_filter(driver, op) and result.stdout.strip():
                xml = result.stdout          # the hook rewrote the definition: libvirt uses it
                self.count("rewrites")
        self.xml[guest] = xml
        return True

    def _stop(self, host: str, guest: str, reason: str) -> None:
        """stopped/release: results are ignored by libvirt (only logged)."""
        driver = self._driver(host)
        for c in lifecycle.stop_calls(driver, reason):
            self._call(host, driver, guest, *c, insecure(self.xml[guest]))

    def _migrate(self, src: str, dst: str, guest: str) -> bool:
        """Destination first (migrate filter, prepare, start, started), then the source lets go."""
        if not self._start(dst, guest, "migrate"):
            return False                     # cancelled: the guest keeps running on the source
        self._stop(src, guest, "migrated")
        return True

    def _daemon_restart(self, host: str, running: list[str]) -> bool:
        """libvirtd restarts: daemon shutdown, daemon start, then reconnect per running guest."""
        self._call(host, "daemon", "-", *lifecycle.DAEMON_SHUTDOWN, "")
        self._call(host, "daemon", "-", *lifecycle.DAEMON_START, "")
        driver = self._driver(host)
        for guest in running:
            self._call(host, driver, guest, *lifecycle.RECONNECT, insecure(self.xml[guest]))
        return True
