"""The simulated fleet: hosts (Xen dom0s with libxl, some KVM hosts with qemu) and their guests.

``build_fleet`` is pure: the same seed, sizes and templates give the same fleet, so a demo,
a test and a benchmark can name the guest they talk about.
"""
from __future__ import annotations

import random
import uuid as uuidlib
from collections import Counter
from dataclasses import dataclass

from app.demo.corpus import Template, describe, personalize

# Guest names read like a real estate: environment, role, number. prod-* matters to policies.
ENVIRONMENTS = (("prod", 4), ("staging", 2), ("dev", 2), ("ci", 1))
ROLES = ("web", "api", "db", "cache", "mq", "etl", "mail", "dns", "ldap", "build", "search", "proxy")

# The special guests every fleet has, so the demo always shows these stories:
DENIED_GUEST = "prod-gpu-01"      # prod + <hostdev>: the example policy refuses its start
LEGACY_GUEST = "dev-legacy-01"    # the pre-existing site hook on its host crashes for it


OLD_XEN_STORE = "/var/lib/xen/images/"   # policies/migration.yaml rewrites it on migrate
OLD_STORE_WEIGHT = 4
DESCRIBED_SHARE = 0.7  # the rest draw the example "require-description" warning


@dataclass(frozen=True)
class Host:
    name: str
    driver: str                # libxl | qemu: the hook file libvirtd runs
    legacy_hook: bool = False  # has a pre-existing hook script for the installer to adopt


@dataclass(frozen=True)
class Guest:
    name: str
    uuid: str
    driver: str
    home: str       # host it is defined on at the start
    template: str   # Template.ref it was made from
    xml: str        # secure form (graphics passwords kept, see corpus.insecure)


@dataclass(frozen=True)
class Fleet:
    hosts: tuple[Host, ...]
    guests: tuple[Guest, ...]

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    def guest(self, name: str) -> Guest:
        return next(g for g in self.guests if g.name == name)

    def peers(self, host: str) -> list[str]:
        """Hosts a guest of ``host`` can migrate to: same driver, not itself."""
        driver = self.host(host).driver
        return [h.name for h in self.hosts if h.driver == driver and h.name != host]


def plan_hosts(n: int) -> list[Host]:
    """About two thirds Xen dom0s (the libxl hook first), the rest KVM; the 2nd dom0 is legacy.

    dom0s are named by rack, eight to a rack starting at rack 7 (the example maintenance-window
    policy covers ``dom0-rack7-*``).
    """
    kvm = n // 3
    xen = n - kvm
    hosts = [Host(f"dom0-rack{7 + (i - 1) // 8}-{(i - 1) % 8 + 1:02d}", "libxl",
                  legacy_hook=(i == min(2, xen))) for i in range(1, xen + 1)]
    width = max(2, len(str(kvm)))
    hosts += [Host(f"kvm-{i:0{width}d}", "qemu") for i in range(1, kvm + 1)]
    return hosts


def guest_names(rng: random.Random, n: int) -> list[str]:
    """``n`` unique realistic names, the special guests first."""
    names = [DENIED_GUEST, LEGACY_GUEST][:n]
    counts: Counter = Counter()
    envs = [e for e, w in ENVIRONMENTS for _ in range(w)]
    while len(names) < n:
        env, role = rng.choice(envs), rng.choice(ROLES)
        counts[(env, role)] += 1
        name = f"{env}-{role}-{counts[(env, role)]:02d}"
        if name not in names:
            names.append(name)
    return names


def build_fleet(seed: int, n_hosts: int, n_guests: int, templates: list[Template]) -> Fleet:
    """A fleet of ``n_hosts`` hosts and ``n_guests`` guests, deterministic in ``seed``."""
    if n_hosts < 1 or n_guests < 0:
        raise ValueError("need at least one host and a non-negative number of guests")
    rng = random.Random(seed)
    hosts = plan_hosts(n_hosts)
    guests = [_make_guest(rng, name, i, hosts, templates)
              for i, name in enumerate(guest_names(rng, n_guests))]
    return Fleet(tuple(hosts), tuple(guests))


def _make_guest(rng: random.Random, name: str, i: int, hosts: list[Host],
                templates: list[Template]) -> Guest:
    home = _home_for(name, i, hosts)
    wanted_hostdev = name == DENIED_GUEST
    pool = [t for t in templates if t.driver == home.driver and t.has_hostdev == wanted_hostdev]
    pool = pool or [t for t in templates if t.driver == home.driver]
    # Guests on the old dom0 image store are favoured: the example migrate policy moves them.
    weights = [OLD_STORE_WEIGHT if OLD_XEN_STORE in t.xml else 1 for t in pool]
    template = rng.choices(pool, weights)[0]
    uuid = str(uuidlib.UUID(int=rng.getrandbits(128), version=4))
    xml = personalize(template, name, uuid)
    if rng.random() < DESCRIBED_SHARE:
        xml = describe(xml, f"{name}: owner team-{name.split('-')[1]}, ticket OPS-{rng.randint(1000, 9999)}")
    return Guest(name, uuid, home.driver, home.name, template.ref, xml)


def _home_for(name: str, i: int, hosts: list[Host]) -> Host:
    if name == LEGACY_GUEST:
        return next((h for h in hosts if h.legacy_hook), hosts[0])
    # Spread the rest round-robin, so every host has guests and Xen hosts carry most of them.
    return hosts[i % len(hosts)]
