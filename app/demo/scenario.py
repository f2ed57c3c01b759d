"""The scenario: a seeded stream of lifecycle actions over a fleet, aware of each guest's state.

``Scenario.opening()`` is the scripted start (libvirtd starts on every host, most guests boot,
a denial, a crashing adopted script, a migration, a host going offline and coming back);
``Scenario.next_action()`` then draws realistic random actions forever. The runner reports
each result with ``record(action, ok)`` so the model follows what really happened (a denied
boot leaves the guest stopped). No I/O, no clock: same seed + same results = same stream.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from app.demo.corpus import first_interface, first_mac, personal_macs
from app.demo.fleet import DENIED_GUEST, LEGACY_GUEST, OLD_XEN_STORE, Fleet

GUEST_ACTIONS = ("boot", "shutdown", "destroy", "reboot", "migrate", "save", "restore",
                 "redefine")
HOST_ACTIONS = ("daemon_start", "daemon_restart", "offline", "online")

# What a running guest does next, with weights (a realistic day: mostly reboots and moves).
# Chance that a guest whose last start was refused is the one picked again (someone retries).
RETRY_REFUSED = 0.15

RUNNING_WEIGHTS = (("shutdown", 20), ("destroy", 5), ("reboot", 30), ("migrate", 35), ("save", 10))


@dataclass(frozen=True)
class Action:
    kind: str                  # one of GUEST_ACTIONS + HOST_ACTIONS
    host: str                  # where the hook runs (the source host for a migration)
    guest: str | None = None
    target: str | None = None  # migrate: destination host
    edit: tuple | None = None  # redefine: ("mac", MAC) | ("interface_of", GUEST) |
    #                            ("own_interface",) | ("memory", FACTOR)  (driver.py applies it)


class Scenario:
    def __init__(self, fleet: Fleet, seed: int, boot_share: float = 0.8):
        self.fleet = fleet
        self.rng = random.Random(seed)
        self.boot_share = boot_share
        self.where = {g.name: g.home for g in fleet.guests}  # host the guest is defined on
        self.running: set[str] = set()
        self.saved: set[str] = set()
        self.busy: set[str] = set()
        self.offline: set[str] = set()
        self.refused: set[str] = set()  # last start was refused: operators retry only now and then
        self._pending: list[tuple[int, Action]] = []  # (due after n more actions, action)
        self.drawn = 0

    # -- the scripted opening ---------------------------------------------------------------

    def opening(self) -> list[Action]:
        """libvirtd starts everywhere, then most guests boot (the special ones included)."""
        actions = [Action("daemon_start", h.name) for h in self.fleet.hosts]
        names = [g.name for g in self.fleet.guests]
        keep = [n for n in names if n in (DENIED_GUEST, LEGACY_GUEST)]
        rest = [n for n in names if n not in keep]
        chosen = keep + self.rng.sample(rest, round(len(rest) * self.boot_share))
        self.rng.shuffle(chosen)
        actions += [Action("boot", self.where[n], n) for n in chosen]
        return actions

    def showcase(self) -> list[Action]:
        """After the opening, per driver: a migration (a guest on the old image store first:
        the example policy rewrites it), or a reboot where the driver has a single host."""
        out = []
        for driver in ("libxl", "qemu"):
            running = sorted((OLD_XEN_STORE not in self.fleet.guest(g).xml, g) for g in self.running
                             if self.fleet.guest(g).driver == driver)
            if not running:
                continue
            g = running[0][1]
            peers = self.fleet.peers(self.where[g])
            out.append(Action("migrate", self.where[g], g, peers[0]) if peers
                       else Action("reboot", self.where[g], g))
        return out

    def schedule_outage(self, host: str | None = None, after: int = 0, length: int = 20) -> None:
        """A host's forwarder goes away ``after`` more actions and returns ``length`` later."""
        host = host or self.rng.choice([h.name for h in self.fleet.hosts])
        self._pending.append((self.drawn + after, Action("offline", host)))
        self._pending.append((self.drawn + after + length, Action("online", host)))

    def scenes(self) -> tuple[list[Action], dict[str, str]]:
        """The facts stories (docs/attribution.md), to run one action after the other:

        - **MAC reused**: guest A stops and gets a new NIC; guest B is given A's old MAC and boots;
        - **duplicate MAC**: guest D is redefined with running guest C's interface (same MAC, same
          network) and boots: a conflict starts; D stops and gets its own NIC back: it ends;
        - **memory change**: guest E boots, stops, gets twice the memory, boots again.

        The duplicate comes last, with a ``hold`` action (guest D, ``target`` C) between D's
        boot and its shutdown: the runner keeps both guests out of the random stream and runs
        the actions after it later, so the conflict lasts long enough to be seen.

        Returns the actions and the cast (``{"mac_old": A, "mac_new": B, "dup_a": C, "dup_b": D,
        "memory": E}``, a scene left out when the fleet has too few guests with a NIC)."""
        plain = [g for g in self.fleet.guests if g.name not in (DENIED_GUEST, LEGACY_GUEST)]
        nic = [g for g in plain if first_interface(g.xml)]
        cast: dict[str, str] = {}
        for c in nic:                     # the duplicate first: it needs two of one driver
            d = next((d for d in nic if d.driver == c.driver and d is not c), None)
            if d is not None:
                cast["dup_a"], cast["dup_b"] = c.name, d.name
                break
        rest = [g for g in nic if g.name not in cast.values()]
        if len(rest) >= 2:
            cast["mac_old"], cast["mac_new"] = rest[0].name, rest[1].name
        left = [g for g in plain if g.name not in cast.values()]
        if left:
            cast["memory"] = left[0].name
        running, out = set(self.running) - self.saved, []

        def act(kind: str, name: str, edit: tuple | None = None) -> None:
            out.append(Action(kind, self.where[name], name, edit=edit))
            if kind in ("boot", "restore"):
                running.add(name)
            elif kind == "shutdown":
                running.discard(name)

        def up(name: str) -> None:
            if name not in running:
                act("restore" if name in self.saved else "boot", name)

        def down(name: str) -> None:
            up(name)                      # a saved guest is restored first: stopped cleanly
            act("shutdown", name)

        if "mac_old" in cast:
            a, b = (self.fleet.guest(cast[k]) for k in ("mac_old", "mac_new"))
            up(a.name)
            down(a.name)
            act("redefine", a.name, ("mac", first_mac(personal_macs(a.xml, a.uuid + "/nic-2"))))
            down(b.name)
            act("redefine", b.name, ("mac", first_mac(a.xml)))
            up(b.name)
        if "memory" in cast:
            e = cast["memory"]
            down(e)
            act("redefine", e, ("memory", 2))
            up(e)
        if "dup_a" in cast:               # last: the runner holds the overlap (a "hold")
            c, d = cast["dup_a"], cast["dup_b"]
            up(c)
            down(d)
            act("redefine", d, ("interface_of", c))
            up(d)
            out.append(Action("hold", self.where[d], d, target=c))
            down(d)
            act("redefine", d, ("own_interface",))
        return out, cast

    # -- the random stream -------------------------------------------------------------------

    def next_action(self) -> Action | None:
        """The next action, or None when every guest is busy right now (try again later)."""
        self.drawn += 1
        due = [p for p in self._pending if p[0] <= self.drawn]
        if due:
            self._pending.remove(due[0])
            return self._host_action(due[0][1])
        if self.rng.random() < 0.01:
            return self._daemon_restart()
        idle = [g.name for g in self.fleet.guests if g.name not in self.busy]
        if not idle:
            return None
        name = self.rng.choice(idle)
        if name in self.refused and self.rng.random() > RETRY_REFUSED:
            fresh = [n for n in idle if n not in self.refused]
            name = self.rng.choice(fresh) if fresh else name
        return self._guest_action(name)

    def _host_action(self, action: Action) -> Action:
        (self.offline.add if action.kind == "offline" else self.offline.discard)(action.host)
        return action

    def _daemon_restart(self) -> Action:
        return Action("daemon_restart", self.rng.choice(self.fleet.hosts).name)

    def _guest_action(self, name: str) -> Action:
        host = self.where[name]
        if name in self.saved:
            return Action("restore", host, name)
        if name not in self.running:
            return Action("boot", host, name)
        kind = self.rng.choices([k for k, _ in RUNNING_WEIGHTS], [w for _, w in RUNNING_WEIGHTS])[0]
        peers = self.fleet.peers(host)
        if kind == "migrate" and not peers:
            kind = "reboot"
        target = self.rng.choice(peers) if kind == "migrate" else None
        return Action(kind, host, name, target)

    # -- bookkeeping -------------------------------------------------------------------------

    def begin(self, action: Action) -> None:
        """The runner starts executing ``action`` (its guest is busy until ``record``)."""
        if action.guest:
            self.busy.add(action.guest)

    def record(self, action: Action, ok: bool) -> None:
        """The result of ``action``: ``ok`` is False when a hook refused or aborted it."""
        g = action.guest
        if g is None:
            return
        self.busy.discard(g)
        if action.kind in ("boot", "restore", "reboot"):
            (self.running.add if ok else self.running.discard)(g)
            (self.refused.discard if ok else self.refused.add)(g)
            if ok or action.kind == "reboot":
                self.saved.discard(g)
        elif action.kind in ("shutdown", "destroy"):
            self.running.discard(g)
        elif action.kind == "save":
            self.running.discard(g)
            self.saved.add(g)
        elif action.kind == "migrate" and ok:
            self.where[g] = action.target

    def running_on(self, host: str) -> list[str]:
        """Guests running on ``host`` that no action holds (for reconnect after a restart)."""
        return sorted(g for g in self.running if self.where[g] == host and g not in self.busy)
