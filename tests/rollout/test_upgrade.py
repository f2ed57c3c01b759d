"""Upgrades and rollbacks of the zipapp: atomic for libvirtd, nothing spooled lost or
re-chained, and the previous release kept until nothing names it."""
import threading

import pytest

from hookshim.release import ReleaseError, rollback
from tests.forwarder.scripted import ScriptedServer
from tests.rollout.conftest import NEW, OLD, build
from tests.rollout.host import Host, assert_gapless_chain


class Caller:
    """Threads calling the hook back to back, as a busy libvirtd would, until stopped."""

    def __init__(self, host, threads=3):
        self.host, self.results, self.stop = host, [], threading.Event()
        self.threads = [threading.Thread(target=self._loop) for _ in range(threads)]

    def _loop(self):
        while not self.stop.is_set():
            proc = self.host.call()
            self.results.append((proc.returncode, proc.stderr))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()


def wait_for_event_from(host, version):
    """Block until a call made after the switch has been recorded by ``version``."""
    while True:
        host.call()
        if host.events()[-1]["shim"]["version"] == version:
            return


def test_upgrade_rollback_and_downgrade_while_libvirtd_calls_the_hook(tmp_path, pyz):
    host = Host(tmp_path)
    host.install(pyz[OLD])
    with Caller(host) as caller:
        for step in (lambda: host.install(pyz[NEW]),                          # upgrade
                     lambda: host.pyz(pyz[NEW], "rollback"),                  # roll back
                     lambda: host.install(pyz[NEW]),                          # upgrade again
                     lambda: host.install(pyz[OLD])):                         # downgrade
            step()
            wait_for_event_from(host, host.active()["release"].split("-")[0])
    failures = [r for r in caller.results if r != (0, "")]
    assert caller.results and failures == []
    events = host.events()
    assert_gapless_chain(events)
    assert len(events) >= len(caller.results)   # every call recorded, none twice
    assert {e["shim"]["version"] for e in events} == {OLD, NEW}


def test_events_spooled_before_an_upgrade_are_forwarded_after_it(tmp_path, pyz):
    host = Host(tmp_path)
    host.install(pyz[OLD])
    for _ in range(3):
        host.call()
    host.install(pyz[NEW])
    host.call()
    token = tmp_path / "token"
    token.write_text("t0ken\n")
    with ScriptedServer() as server:
        with open(host.config, "a") as f:
            f.write("server_url = %s\ntoken_file = %s\n" % (server.url, token))
        host.pyz(pyz[NEW], "forward", "--once")
    sent = sorted((e for p in server.posts() for e in p.json()["events"]), key=lambda e: e["seq"])
    assert [(e["seq"], e["shim"]["version"]) for e in sent] == [
        (1, OLD), (2, OLD), (3, OLD), (4, NEW)]
    assert_gapless_chain(sent)


def test_forwarder_started_from_any_archive_runs_the_active_release(tmp_path, pyz):
    host = Host(tmp_path)
    host.install(pyz[OLD])
    host.call()
    token = tmp_path / "token"
    token.write_text("t0ken\n")
    with ScriptedServer() as server:
        with open(host.config, "a") as f:
            f.write("server_url = %s\ntoken_file = %s\n" % (server.url, token))
        host.pyz(pyz[NEW], "forward", "--once")   # e.g. the package's new archive
    beats = [r.json() for r in server.requests if r.method == "POST" and "heartbeat" in r.path]
    assert beats and {b["shim_version"] for b in beats} == {OLD}


def test_rollback_switches_launchers_back_and_remembers_the_release_it_left(tmp_path, pyz):
    host = Host(tmp_path)
    host.install(pyz[OLD])
    old_release = host.launcher_release()
    host.install(pyz[NEW])
    new_release = host.launcher_release()
    host.pyz(pyz[NEW], "rollback")
    assert host.launcher_release() == old_release
    assert host.active() | {"argv": None} == {"release": old_release, "previous": new_release,
                                               "argv": None}


def test_reinstalling_the_same_archive_keeps_the_previous_release(tmp_path, pyz):
    host = Host(tmp_path)
    host.install(pyz[OLD])
    host.install(pyz[NEW])
    before = host.active()
    host.install(pyz[NEW])   # configuration management runs it again
    assert host.active() == before


def test_only_the_active_and_previous_releases_are_kept(tmp_path, pyz):
    host = Host(tmp_path)
    third = build(tmp_path / "dist", "0.1.2", "--no-deb") / "hookshim.pyz"
    for archive in (pyz[OLD], pyz[NEW], third):
        host.install(archive)
    listing = host.pyz(third, "releases").stdout
    kept = dict(line.split() for line in listing.splitlines())
    assert sorted((name.split("-")[0], mark) for name, mark in kept.items()) == [
        (NEW, "previous"), ("0.1.2", "active")]


def test_rollback_without_a_previous_release_is_refused_clearly(tmp_path, pyz):
    host = Host(tmp_path)
    host.install(pyz[OLD])
    proc = host.pyz(pyz[OLD], "rollback", check=False)
    assert proc.returncode == 1
    assert "no previous release" in proc.stderr
    with pytest.raises(ReleaseError):
        rollback(str(host.state / "releases"), "/usr/bin/python3")
    assert host.launcher_release().startswith(OLD)
