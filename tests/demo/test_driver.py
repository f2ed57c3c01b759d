"""The driver calls hooks exactly as libvirtd does: argv, environment, cwd, fds, stdin, order,
failure semantics and filter output. The hooks here are recording scripts (real processes)
standing where `hookshim install` puts the launchers."""
import json

import pytest

from app.demo.corpus import builtin_templates
from app.demo.driver import Driver
from app.demo.fleet import build_fleet
from app.demo.scenario import Action
from app.demo.simhost import SimHost

# Records one call as a JSON line; refuses (exit 1) when $guest/$op is listed in ./refuse;
# as a filter, rewrites /var/lib/xen/images/ to /srv/images/ like the example policy.
RECORDER = """#!/usr/bin/python3
import json, os, sys, time
here = os.path.dirname(os.path.abspath(__file__))
data = sys.stdin.read()
fds = sorted(int(f) for f in os.listdir("/proc/self/fd"))
with open(os.path.join(here, "calls.jsonl"), "a") as f:
    f.write(json.dumps({"driver": os.path.basename(sys.argv[0]), "argv": sys.argv[1:],
                        "cwd": os.getcwd(), "env": dict(os.environ), "stdin": data,
                        "fds": fds, "t": time.monotonic_ns()}) + "\\n")
refuse = os.path.join(here, "refuse")
if os.path.exists(refuse) and "%s/%s" % (sys.argv[1], sys.argv[2]) in open(refuse).read().split():
    sys.stderr.write("refused by the recorder\\n")
    sys.exit(1)
if sys.argv[2] == "migrate":
    sys.stdout.write(data.replace("/var/lib/xen/images/", "/srv/images/"))
"""


@pytest.fixture
def fleet():
    return build_fleet(1, 3, 8, builtin_templates())


@pytest.fixture
def rig(fleet, tmp_path):
    """A Driver over the fleet whose hosts' hooks are recorders."""
    hosts = {}
    for h in fleet.hosts:
        sim = SimHost(h, tmp_path / h.name, (h.driver, "daemon"))
        sim.hooks_dir.mkdir(parents=True)
        for driver in sim.drivers:
            (sim.hooks_dir / driver).write_text(RECORDER)
            (sim.hooks_dir / driver).chmod(0o755)
        hosts[h.name] = sim
    return Driver(fleet, hosts), hosts


def calls(hosts):
    out = []
    for name, sim in hosts.items():
        path = sim.hooks_dir / "calls.jsonl"
        if path.exists():
            out += [{"host": name, **json.loads(line)} for line in path.read_text().splitlines()]
    return sorted(out, key=lambda c: c["t"])   # CLOCK_MONOTONIC is system-wide: call order


def ops(hosts):
    return [(c["host"], c["driver"], *c["argv"]) for c in calls(hosts)]


def refuse(sim, guest, op):
    with open(sim.hooks_dir / "refuse", "a") as f:
        f.write(f"{guest}/{op}\n")


def guest_on(fleet, driver, store=None):
    return next(g for g in fleet.guests if g.driver == driver and (store is None or store in g.xml))


def test_hook_runs_like_libvirtd_runs_it(fleet, rig):
    driver, hosts = rig
    g = guest_on(fleet, "libxl")
    assert driver.execute(Action("boot", g.home, g.name))
    c = calls(hosts)[0]
    assert c["argv"] == [g.name, "prepare", "begin", "-"]
    assert set(c["env"]) == {"LC_ALL", "PATH"} and c["env"]["LC_ALL"] == "C"
    assert c["cwd"] == "/"
    assert c["fds"][:3] == [0, 1, 2] and len(c["fds"]) == 4   # + the one listdir opened
    assert f"<name>{g.name}</name>" in c["stdin"] and "passwd=" not in c["stdin"]


@pytest.mark.parametrize("kind, driver, expected", [
    ("boot", "libxl", ["prepare begin -", "start begin -", "started begin -"]),
    ("shutdown", "libxl", ["stopped end -", "release end -"]),
    ("shutdown", "qemu", ["stopped end -", "release end shutdown"]),
    ("destroy", "qemu", ["stopped end -", "release end destroyed"]),
    ("save", "qemu", ["stopped end -", "release end saved"]),
    ("restore", "qemu", ["restore begin -", "prepare begin -", "start begin -", "started begin -"]),
    ("restore", "libxl", ["prepare begin -", "start begin -", "started begin -"]),
    ("reboot", "libxl", ["stopped end -", "release end -", "prepare begin -", "start begin -",
                         "started begin -"]),
])
def test_guest_actions_make_libvirts_calls(fleet, rig, kind, driver, expected):
    drv, hosts = rig
    g = guest_on(fleet, driver)
    assert drv.execute(Action(kind, g.home, g.name))
    assert [" ".join(c[3:]) for c in ops(hosts)] == expected
    assert {c[0] for c in ops(hosts)} == {g.home}


@pytest.mark.parametrize("driver, refused, expected", [
    # libxl: a refused prepare is the end of it
    ("libxl", "prepare", ["prepare begin -"]),
    # qemu: a refused prepare is still followed by stopped and release (reason "failed")
    ("qemu", "prepare", ["prepare begin -", "stopped end -", "release end failed"]),
    # a refused start tears down on both
    ("libxl", "start", ["prepare begin -", "start begin -", "stopped end -", "release end -"]),
    ("qemu", "started", ["prepare begin -", "start begin -", "started begin -", "stopped end -",
                         "release end failed"]),
])
def test_refused_boot_follows_libvirts_failure_path(fleet, rig, driver, refused, expected):
    drv, hosts = rig
    g = guest_on(fleet, driver)
    refuse(hosts[g.home], g.name, refused)
    assert drv.execute(Action("boot", g.home, g.name)) is False
    assert [" ".join(c[3:]) for c in ops(hosts)] == expected


def test_migration_runs_destination_filter_then_releases_the_source(fleet, rig):
    drv, hosts = rig
    g = guest_on(fleet, "libxl", "/var/lib/xen/images/")
    src, dst = g.home, fleet.peers(g.home)[0]
    assert drv.execute(Action("migrate", src, g.name, dst))
    assert [(c[0], c[3]) for c in ops(hosts)] == [
        (dst, "migrate"), (dst, "prepare"), (dst, "start"), (dst, "started"),
        (src, "stopped"), (src, "release")]
    c = calls(hosts)
    assert "passwd=" in c[0]["stdin"]                    # migrate input is the secure form
    assert "passwd=" not in c[1]["stdin"]
    assert "/srv/images/" in c[1]["stdin"] and "/var/lib/xen/images/" not in c[1]["stdin"]
    assert "/srv/images/" in drv.xml[g.name]             # libvirt keeps the rewritten definition


def test_refused_migration_leaves_the_source_alone(fleet, rig):
    drv, hosts = rig
    g = guest_on(fleet, "libxl")
    src, dst = g.home, fleet.peers(g.home)[0]
    refuse(hosts[dst], g.name, "migrate")
    assert drv.execute(Action("migrate", src, g.name, dst)) is False
    assert [(c[0], c[3]) for c in ops(hosts)] == [(dst, "migrate")]


def test_daemon_restart_reconnects_running_guests(fleet, rig):
    drv, hosts = rig
    host = fleet.hosts[0].name
    running = [g.name for g in fleet.guests if g.home == host][:2]
    assert drv.execute(Action("daemon_restart", host), running_on=lambda h: running)
    assert ops(hosts) == [(host, "daemon", "-", "shutdown", "-", "shutdown"),
                          (host, "daemon", "-", "start", "-", "start")] + [
        (host, "libxl", g, "reconnect", "begin", "-") for g in running]
    assert calls(hosts)[0]["stdin"] == ""                # the daemon hook gets no XML
