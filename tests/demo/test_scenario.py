"""The fleet generator, the lifecycle tables and the scenario stream: pure, seeded, no I/O."""
import re
from collections import Counter

import pytest

from app.demo import lifecycle
from app.demo.corpus import (
    Template,
    builtin_templates,
    describe,
    disk_paths,
    insecure,
    load_templates,
    personalize,
)
from app.demo.fleet import DENIED_GUEST, LEGACY_GUEST, OLD_XEN_STORE, build_fleet, plan_hosts
from app.demo.scenario import Action, Scenario


@pytest.fixture(scope="module")
def templates(xml_source, xml_dir):
    return load_templates(xml_dir)


# -- lifecycle tables (docs/libvirt-hooks.md, shared) -------------------------------------------

@pytest.mark.parametrize("driver, filter_op, expected", [
    # a plain boot: three begin calls, <extra> "-"
    ("libxl", None, ["prepare", "start", "started"]),
    ("qemu", None, ["prepare", "start", "started"]),
    # incoming migration: the migrate filter runs first on the destination
    ("libxl", "migrate", ["migrate", "prepare", "start", "started"]),
    ("qemu", "migrate", ["migrate", "prepare", "start", "started"]),
    # restore: qemu has a restore filter, libxl does not
    ("qemu", "restore", ["restore", "prepare", "start", "started"]),
    ("libxl", "restore", ["prepare", "start", "started"]),
])
def test_start_sequences_follow_libvirt(driver, filter_op, expected):
    calls = lifecycle.start_calls(driver, filter_op)
    assert [op for op, _, _ in calls] == expected
    assert all(extra == "-" for _, _, extra in calls)


@pytest.mark.parametrize("driver, failed_op, expected", [
    ("libxl", "prepare", []),                       # libxl: a refused prepare has no cleanup
    ("libxl", "start", ["stopped", "release"]),     # start failure tears down
    ("libxl", "started", ["stopped", "release"]),   # started failure destroys the domain
    ("qemu", "prepare", ["stopped", "release"]),    # qemu: even a failed prepare cleans up
    ("qemu", "started", ["stopped", "release"]),
    ("libxl", "migrate", []),                       # a failed filter cancels the migration
    ("qemu", "restore", []),
    ("bhyve", "start", []),                         # bhyve destroys, no stopped/release
    ("bhyve", "started", []),
    ("lxc", "prepare", ["stopped", "release"]),
])
def test_after_failure_matches_libvirt(driver, failed_op, expected):
    assert [op for op, _, _ in lifecycle.after_failure(driver, failed_op)] == expected


@pytest.mark.parametrize("driver, reason, release_extra", [
    ("libxl", "migrated", "-"),     # libxl: <extra> is always "-"
    ("qemu", "migrated", "migrated"),  # qemu >= 10.5: the shutoff reason
    ("qemu", "failed", "failed"),
    ("lxc", "shutdown", "shutdown"),   # lxc too, since 10.5.0
])
def test_stop_calls_extra_carries_the_qemu_shutoff_reason(driver, reason, release_extra):
    assert lifecycle.stop_calls(driver, reason) == [("stopped", "end", "-"),
                                                     ("release", "end", release_extra)]


# -- templates and personalisation -------------------------------------------------------------

def test_xml_templates_cover_both_drivers_and_hostdev(xml_source, templates):
    kinds = Counter((t.driver, t.has_hostdev) for t in templates)
    at_least = {"fixtures": (3, 3), "corpus": (50, 10)}[xml_source]
    assert kinds[("libxl", False)] >= at_least[0] and kinds[("qemu", False)] >= at_least[1]
    assert kinds[("libxl", True)] and kinds[("qemu", True)]
    assert not any(t.ref.startswith("builtin:") for t in templates)


def test_missing_corpus_falls_back_to_builtin_templates(tmp_path):
    templates = load_templates(tmp_path / "nowhere")
    assert {t.driver for t in templates} == {"libxl", "qemu"}
    assert all(t.ref.startswith("builtin:") for t in templates)


@pytest.mark.parametrize("template", builtin_templates(), ids=lambda t: t.ref)
def test_personalize_gives_own_name_uuid_and_disk(template):
    xml = personalize(template, "prod-web-07", "0d1e2f30-0000-4000-8000-00000000abcd")
    assert "<name>prod-web-07</name>" in xml and xml.count("<name>") == 1
    assert "<uuid>0d1e2f30-0000-4000-8000-00000000abcd</uuid>" in xml
    assert all("/prod-web-07" in p for p in disk_paths(xml))


def test_personalize_inserts_a_uuid_when_the_template_has_none():
    t = builtin_templates()[0]
    bare = Template(t.ref, t.driver, re.sub(r"\s*<uuid>[^<]*</uuid>", "", t.xml))
    xml = personalize(bare, "dev-dns-01", "11111111-2222-4333-8444-555555555555")
    assert "<uuid>11111111-2222-4333-8444-555555555555</uuid>" in xml


def test_describe_adds_one_description_after_the_uuid():
    xml = describe(personalize(builtin_templates()[0], "g", "u-1"), "owner: team-web")
    assert "<uuid>u-1</uuid>\n  <description>owner: team-web</description>" in xml
    assert describe(xml, "other").count("<description>") == 1


def test_fleet_describes_most_guests(templates):
    fleet = build_fleet(2, 10, 60, templates)
    described = sum("<description>" in g.xml for g in fleet.guests)
    assert 30 < described < 60


def test_insecure_form_drops_graphics_passwords():
    xml = personalize(builtin_templates()[0], "g", "u")
    assert "passwd=" in xml and "passwd=" not in insecure(xml)


# -- the fleet ---------------------------------------------------------------------------------

@pytest.mark.parametrize("n, xen, kvm", [
    (1, 1, 0), (3, 2, 1), (10, 7, 3), (200, 134, 66),
])
def test_plan_hosts_is_mostly_xen(n, xen, kvm):
    hosts = plan_hosts(n)
    assert Counter(h.driver for h in hosts) == Counter({"libxl": xen, "qemu": kvm}) - Counter()
    assert len({h.name for h in hosts}) == n
    assert sum(h.legacy_hook for h in hosts) == 1


@pytest.mark.parametrize("n, names", [
    (3, ["dom0-rack7-01", "dom0-rack7-02", "kvm-01"]),
    # eight dom0s to a rack, from rack 7 (the example maintenance-window policy's rack)
    (13, [f"dom0-rack7-{i:02d}" for i in range(1, 9)] + ["dom0-rack8-01"]
     + [f"kvm-{i:02d}" for i in range(1, 5)]),
])
def test_hosts_are_named_by_rack(n, names):
    assert [h.name for h in plan_hosts(n)] == names


def test_same_seed_same_fleet_other_seed_other_fleet(templates):
    a, b = build_fleet(7, 10, 60, templates), build_fleet(7, 10, 60, templates)
    c = build_fleet(8, 10, 60, templates)
    assert a == b
    assert [g.uuid for g in a.guests] != [g.uuid for g in c.guests]


@pytest.mark.parametrize("hosts, guests", [(3, 8), (10, 60), (200, 600)])
def test_fleet_guests_are_unique_and_match_their_host_driver(templates, hosts, guests):
    fleet = build_fleet(1, hosts, guests, templates)
    assert len(fleet.guests) == guests
    assert len({g.name for g in fleet.guests}) == guests
    assert len({g.uuid for g in fleet.guests}) == guests
    for g in fleet.guests:
        assert fleet.host(g.home).driver == g.driver
        assert f"<name>{g.name}</name>" in g.xml and f"<uuid>{g.uuid}</uuid>" in g.xml
    assert {g.home for g in fleet.guests} == {h.name for h in fleet.hosts}


def test_special_guests_exist_with_their_story(templates):
    fleet = build_fleet(3, 10, 60, templates)
    denied, legacy = fleet.guest(DENIED_GUEST), fleet.guest(LEGACY_GUEST)
    assert "<hostdev" in denied.xml                   # prod-* with passthrough: refused
    assert fleet.host(legacy.home).legacy_hook        # lives where the crashing script is


# -- the scenario stream -----------------------------------------------------------------------

def drive(scenario, n, fail=lambda a: False):
    """Draw and record ``n`` actions serially, ``fail`` deciding which ones a hook refused."""
    out = []
    for _ in range(n):
        action = scenario.next_action()
        scenario.begin(action)
        scenario.record(action, not fail(action))
        out.append(action)
    return out


def test_opening_starts_every_daemon_and_boots_the_special_guests(templates):
    fleet = build_fleet(5, 10, 60, templates)
    opening = Scenario(fleet, 5).opening()
    assert [a.host for a in opening if a.kind == "daemon_start"] == [h.name for h in fleet.hosts]
    booted = {a.guest for a in opening if a.kind == "boot"}
    assert {DENIED_GUEST, LEGACY_GUEST} <= booted and 45 <= len(booted) <= 50


def test_stream_is_reproducible(templates):
    fleet = build_fleet(5, 10, 60, templates)
    runs = []
    for _ in range(2):
        s = Scenario(fleet, 11)
        for a in s.opening():
            s.record(a, True)
        runs.append(drive(s, 300))
    assert runs[0] == runs[1]


def test_stream_actions_respect_guest_state(templates):
    fleet = build_fleet(5, 10, 60, templates)
    s = Scenario(fleet, 2)
    for a in s.opening():
        s.record(a, a.guest != DENIED_GUEST)
    for _ in range(500):
        running, saved, where = set(s.running), set(s.saved), dict(s.where)
        a = s.next_action()
        s.begin(a)
        s.record(a, a.guest != DENIED_GUEST)
        if a.kind in ("boot",):
            assert a.guest not in running and a.guest not in saved
        if a.kind in ("shutdown", "destroy", "reboot", "migrate", "save"):
            assert a.guest in running
        if a.kind == "restore":
            assert a.guest in saved
        if a.guest:
            assert a.host == where[a.guest]
        if a.kind == "migrate":
            assert a.target != a.host
            assert fleet.host(a.target).driver == fleet.host(a.host).driver
    assert DENIED_GUEST not in s.running


def test_stream_mixes_all_guest_actions(templates):
    fleet = build_fleet(9, 10, 60, templates)
    s = Scenario(fleet, 9)
    for a in s.opening():
        s.record(a, True)
    kinds = Counter(a.kind for a in drive(s, 2000))
    assert set(kinds) >= {"boot", "shutdown", "destroy", "reboot", "migrate", "save", "restore",
                          "daemon_restart"}


def test_denied_boot_leaves_guest_stopped_and_failed_migration_leaves_it_home(templates):
    fleet = build_fleet(4, 3, 8, templates)
    s = Scenario(fleet, 4)
    s.record(Action("boot", fleet.guest(DENIED_GUEST).home, DENIED_GUEST), False)
    assert DENIED_GUEST not in s.running
    g = next(g for g in fleet.guests if fleet.peers(g.home))
    s.record(Action("boot", g.home, g.name), True)
    s.record(Action("migrate", g.home, g.name, fleet.peers(g.home)[0]), False)
    assert s.where[g.name] == g.home and g.name in s.running


def test_showcase_migrates_a_running_guest_to_a_peer(templates):
    fleet = build_fleet(4, 3, 8, templates)
    s = Scenario(fleet, 4)
    for a in s.opening():
        s.record(a, True)
    move, reboot = s.showcase()   # 3 hosts: two dom0s -> a libxl migration; one KVM -> a reboot
    assert move.kind == "migrate" and fleet.host(move.host).driver == "libxl"
    assert reboot.kind == "reboot" and fleet.host(reboot.host).driver == "qemu"
    assert move.guest in s.running and move.target in fleet.peers(move.host)
    assert OLD_XEN_STORE in fleet.guest(move.guest).xml   # so the example policy rewrites it


def test_outage_goes_offline_then_online_after_its_length(templates):
    fleet = build_fleet(4, 3, 8, templates)
    s = Scenario(fleet, 4)
    for a in s.opening():
        s.record(a, True)
    s.schedule_outage("dom0-rack7-02", after=2, length=5)
    actions = drive(s, 10)
    kinds = [(i, a.kind) for i, a in enumerate(actions) if a.kind in ("offline", "online")]
    assert kinds == [(1, "offline"), (6, "online")]
    assert all(a.host == "dom0-rack7-02" for a in actions if a.kind in ("offline", "online"))


def test_refused_guests_are_retried_only_now_and_then(templates):
    fleet = build_fleet(6, 3, 8, templates)
    s = Scenario(fleet, 6)
    for a in s.opening():
        s.record(a, a.guest not in (DENIED_GUEST, LEGACY_GUEST))
    picks = Counter(a.guest for a in drive(s, 1000, fail=lambda a: a.guest in (DENIED_GUEST, LEGACY_GUEST)))
    others = [n for g, n in picks.items() if g not in (DENIED_GUEST, LEGACY_GUEST, None)]
    assert 0 < picks[DENIED_GUEST] < min(others) / 2


# -- the facts scenes (docs/demo.md) ------------------------------------------------------------

def _play(scenario: Scenario, actions) -> None:
    for a in actions:
        scenario.begin(a)
        scenario.record(a, True)


@pytest.mark.parametrize("templates_of", ["corpus", "builtin"])
def test_scenes_cast_distinct_guests_and_keep_their_state_consistent(templates, templates_of):
    pool = templates if templates_of == "corpus" else builtin_templates()
    fleet = build_fleet(1, 3, 8, pool)
    s = Scenario(fleet, 1)
    _play(s, s.opening())
    actions, cast = s.scenes()
    assert set(cast) == {"mac_old", "mac_new", "dup_a", "dup_b", "memory"}
    assert len(set(cast.values())) == 5 and not {DENIED_GUEST, LEGACY_GUEST} & set(cast.values())
    assert fleet.guest(cast["dup_a"]).driver == fleet.guest(cast["dup_b"]).driver
    # every action fits the guest's state at that point (never boot a running guest, ...)
    running = set(s.running)
    for a in actions:
        if a.kind in ("boot", "restore"):
            assert a.guest not in running, a
            running.add(a.guest)
        elif a.kind == "shutdown":
            assert a.guest in running, a
            running.discard(a.guest)
        elif a.kind == "redefine":
            assert a.guest not in running, a     # redefined while stopped: the next boot has it
    # the end state: the old MAC holder and the duplicate are stopped, the new holder runs
    assert cast["mac_new"] in running and cast["memory"] in running
    assert cast["mac_old"] not in running and cast["dup_b"] not in running and cast["dup_a"] in running


def test_scene_edits_change_only_what_they_say():
    from app.demo.corpus import first_interface, first_mac, with_mac, with_memory

    fleet = build_fleet(1, 3, 8, builtin_templates())
    g = next(g for g in fleet.guests if first_interface(g.xml))
    other = with_mac(g.xml, "52:54:00:aa:bb:cc")
    assert first_mac(other) == "52:54:00:aa:bb:cc" and first_mac(g.xml) != "52:54:00:aa:bb:cc"
    assert with_mac(other, first_mac(g.xml)) == g.xml
    mem = int(re.search(r"<memory[^>]*>(\d+)<", g.xml).group(1))
    doubled = with_memory(g.xml, 2)
    assert re.search(r"<memory[^>]*>(\d+)<", doubled).group(1) == str(2 * mem)
    assert re.search(r"<currentMemory[^>]*>(\d+)<", doubled).group(1) == str(2 * mem)


def test_redefine_calls_no_hook_and_own_interface_undoes_a_borrowed_one():
    from app.demo.corpus import first_mac
    from app.demo.driver import Driver

    fleet = build_fleet(1, 3, 8, builtin_templates())
    a, b = [g for g in fleet.guests if g.driver == "libxl"][:2]
    driver = Driver(fleet, hosts={})           # no hosts: any hook call would raise
    assert driver.execute(Action("redefine", b.home, b.name, edit=("interface_of", a.name)))
    assert first_mac(driver.xml[b.name]) == first_mac(a.xml) != first_mac(b.xml)
    driver.execute(Action("redefine", b.home, b.name, edit=("own_interface",)))
    assert driver.xml[b.name] == b.xml and driver.stats["calls"] == 0


def test_the_duplicate_scene_comes_last_and_holds_between_the_boot_and_the_shutdown():
    fleet = build_fleet(1, 3, 8, builtin_templates())
    s = Scenario(fleet, 1)
    _play(s, s.opening())
    actions, cast = s.scenes()
    [hold] = [i for i, a in enumerate(actions) if a.kind == "hold"]
    d, c = cast["dup_b"], cast["dup_a"]
    assert (actions[hold].guest, actions[hold].target) == (d, c)
    assert (actions[hold - 1].kind, actions[hold - 1].guest) in {("boot", d), ("restore", d)}
    assert [(a.kind, a.guest) for a in actions[hold + 1:]] == [("shutdown", d), ("redefine", d)]


class _Driver:
    """Records what the runner asks libvirtd to do, and when."""

    def __init__(self):
        import time
        self.calls, self.clock = [], time.monotonic

    def execute(self, action, running_on=None):
        self.calls.append((self.clock(), action.kind, action.guest))
        return True


def _demo(duplicate_s: float):
    from app.demo.runner import Demo, Options
    demo = Demo(Options(hosts=3, guests=8, duplicate_s=duplicate_s), out=lambda *_: None)
    demo.driver = _Driver()
    _play(demo.scenario, demo.scenario.opening())
    return demo


def test_the_runner_keeps_the_duplicate_running_for_duplicate_s_and_out_of_the_stream():
    import time
    from concurrent.futures import ThreadPoolExecutor
    demo = _demo(duplicate_s=0.6)
    with ThreadPoolExecutor(2) as pool:
        demo.play_scenes(pool)
        held = {a.guest for a in demo._duplicate_rest} | {demo._duplicate_hold.target}
        assert held <= demo.scenario.busy      # the random stream leaves both alone
        booted_at = demo.driver.calls[-1][0]
        time.sleep(1.0)
    shutdown = [t for t, kind, g in demo.driver.calls
                if kind == "shutdown" and g == demo._duplicate_hold.guest]
    assert shutdown and shutdown[-1] - booted_at >= 0.6
    assert not held & demo.scenario.busy and demo._duplicate_rest == []


def test_a_run_that_ends_first_ends_the_duplicate_and_a_stop_does_not():
    from concurrent.futures import ThreadPoolExecutor
    demo = _demo(duplicate_s=3600)
    with ThreadPoolExecutor(2) as pool:
        demo.play_scenes(pool)
    d = demo._duplicate_hold.guest
    assert demo.driver.calls[-1][1:] in {("boot", d), ("restore", d)}   # and then it holds
    demo.end_duplicate()          # what play() does when its stream is over
    assert [c[1:] for c in demo.driver.calls[-2:]] == [("shutdown", d), ("redefine", d)]
    stopped = _demo(duplicate_s=3600)
    with ThreadPoolExecutor(2) as pool:
        stopped.play_scenes(pool)
    before = list(stopped.driver.calls)
    stopped.stop.set()            # Ctrl-C: no more hook calls
    stopped.end_duplicate()
    assert stopped.driver.calls == before


def test_the_host_that_stays_offline_is_not_one_of_the_held_duplicates():
    from concurrent.futures import ThreadPoolExecutor
    demo = _demo(duplicate_s=3600)
    with ThreadPoolExecutor(2) as pool:
        demo.play_scenes(pool)
    hold, where = demo._duplicate_hold, demo.scenario.where
    stale = demo._stale_host()
    assert stale not in {where[hold.guest], where[hold.target], demo.fleet.hosts[0].name}
    demo.end_duplicate()
