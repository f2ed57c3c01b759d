"""What libvirt runs on a host, whether it already calls a hook, and reloading it."""
import time

import pytest

from hookshim import libvirt_host
from hookshim.libvirt_host import Host, detect_daemon, detect_version, sees_hook
from tests.conftest import skip_or_fail
from tests.hookshim.fake_host import FakeHost


@pytest.fixture
def host(tmp_path):
    return FakeHost(tmp_path / "host")


# (what the host shows, expected mode) - strongest evidence first, as detect_daemon reads it
DAEMON_CASES = [
    # only libvirtd runs: monolithic, whatever binaries are installed
    ({"procs": ["libvirtd"], "bins": ["libvirtd", "virtqemud"]}, "libvirtd"),
    # virtqemud and virtnetworkd run: split
    ({"procs": ["virtqemud", "virtnetworkd"], "bins": ["libvirtd"]}, "split"),
    # nothing runs, split sockets exist: split (clients pick the direct socket first)
    ({"socks": ["virtqemud", "libvirt"]}, "split"),
    # nothing runs, only libvirtd's socket: monolithic
    ({"socks": ["libvirt"]}, "libvirtd"),
    # socket-activated split daemons, enabled but idle
    ({"units": ["virtqemud.socket", "virtxend.socket"], "bins": ["libvirtd"]}, "split"),
    # only the monolithic binary installed (Debian 12's libvirt-daemon)
    ({"bins": ["libvirtd"]}, "libvirtd"),
    # only split binaries installed
    ({"bins": ["virtxend", "virtqemud"]}, "split"),
    # both installed, nothing else to go by: unknown, left unset
    ({"bins": ["libvirtd", "virtqemud"]}, None),
    # nothing at all
    ({}, None),
]


@pytest.mark.parametrize("seen, expected", DAEMON_CASES)
def test_daemon_mode_is_detected_from_processes_sockets_units_binaries(host, seen, expected):
    for pid, name in enumerate(seen.get("procs", []), 100):
        host.daemon(name, pid)
    for name in seen.get("socks", []):
        host.socket(name)
    for unit in seen.get("units", []):
        host.enabled_unit(unit)
    for name in seen.get("bins", []):
        host.binary_prints(name, "%s (libvirt) 9.0.0" % name)
    assert detect_daemon(host) == expected


def test_a_users_session_daemon_is_not_the_system_daemon(host):
    host.daemon("virtqemud", 4242, uid=1000)
    host.binary_prints("libvirtd", "libvirtd (libvirt) 9.0.0")
    assert detect_daemon(host) == "libvirtd"


@pytest.mark.parametrize("binary, output, status, expected", [
    ("libvirtd", "libvirtd (libvirt) 9.0.0", 0, "9.0.0"),
    ("virtqemud", "virtqemud (libvirt) 11.3.0", 0, "11.3.0"),
    ("libvirtd", "libvirtd (libvirt) 2.2.0", 0, "2.2.0"),
    ("libvirtd", "something else entirely", 0, None),
    ("libvirtd", "libvirtd (libvirt) 9.0.0", 1, None),   # a failing binary tells nothing
])
def test_version_comes_from_the_daemon_binary(host, binary, output, status, expected):
    host.binary_prints(binary, output, status)
    assert detect_version(host) == expected


def test_no_binary_means_unknown_version(host):
    assert detect_version(host) is None


@pytest.mark.parametrize("version, expected", [
    ("6.4.0", False), ("6.5.0", True), ("11.3.0", True), ("2.2.0", False), (None, None)])
def test_d_directories_since_6_5(version, expected):
    assert libvirt_host.runs_dot_d(version) is expected


def test_this_machine_runs_libvirtd_9_0_0():
    """scripts/test.sh installs Debian 12's libvirt-daemon (monolithic libvirtd 9.0.0)."""
    real = Host()
    if not real.binary("libvirtd"):
        skip_or_fail("libvirtd is not installed here (scripts/test.sh installs it as root)")
    assert (detect_version(real), detect_daemon(real)) == ("9.0.0", "libvirtd")


@pytest.mark.parametrize("driver, mode, daemon", [
    ("qemu", "libvirtd", "libvirtd"), ("qemu", "split", "virtqemud"),
    ("libxl", "split", "virtxend"), ("lxc", "split", "virtlxcd"),
    ("network", "split", "virtnetworkd"), ("bhyve", "split", "virtbhyved"),
    ("daemon", "split", "*"), ("daemon", "libvirtd", "*"), ("qemu", None, None),
])
def test_the_daemon_that_calls_each_hook(driver, mode, daemon):
    assert libvirt_host.daemon_for(driver, mode) == daemon


# -- sees_hook ---------------------------------------------------------------------------------


def hook(hooks, name, mode=0o755):
    path = hooks / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(mode)
    return path


def test_no_executable_hook_means_the_daemon_does_not_call_it(tmp_path, host):
    host.daemon("libvirtd", 10, started_ago=60)
    hook(tmp_path, "qemu", 0o644)        # virFileIsExecutable: no x bit, not a hook
    assert sees_hook(host, str(tmp_path), "qemu", "9.0.0", "libvirtd")[0] == "no"


def test_a_daemon_started_after_the_hook_appeared_calls_it(tmp_path, host):
    hook(tmp_path, "qemu")
    time.sleep(0.05)
    host.daemon("libvirtd", 10, started_ago=0)
    verdict, reason = sees_hook(host, str(tmp_path), "qemu", "9.0.0", "libvirtd")
    assert verdict == "yes" and "pid 10" in reason


def test_a_hook_newer_than_the_daemon_is_unsure(tmp_path, host):
    host.daemon("libvirtd", 10, started_ago=3000)
    hook(tmp_path, "qemu")
    assert sees_hook(host, str(tmp_path), "qemu", "9.0.0", "libvirtd")[0] == "unsure"


def test_a_stopped_daemon_finds_the_hook_when_it_starts(tmp_path, host):
    hook(tmp_path, "qemu")
    assert sees_hook(host, str(tmp_path), "qemu", "9.0.0", "virtqemud")[0] == "at-start"


@pytest.mark.parametrize("version, verdict", [("9.0.0", "yes"), ("6.4.0", "no"),
                                              ("2.2.0", "no"), (None, "unsure")])
def test_a_dot_d_script_counts_only_from_6_5_0(tmp_path, host, version, verdict):
    hook(tmp_path, "qemu.d/10-net")
    time.sleep(0.05)
    host.daemon("libvirtd", 10, started_ago=0)
    assert sees_hook(host, str(tmp_path), "qemu", version, "libvirtd")[0] == verdict


def test_a_dot_d_symlink_to_a_directory_counts_as_libvirt_opendir_follows_it(tmp_path, host):
    hook(tmp_path / "elsewhere", "10-net")
    (tmp_path / "hooks").mkdir()
    (tmp_path / "hooks" / "qemu.d").symlink_to(tmp_path / "elsewhere")
    time.sleep(0.05)
    host.daemon("libvirtd", 10, started_ago=0)
    assert sees_hook(host, str(tmp_path / "hooks"), "qemu", "9.0.0", "libvirtd")[0] == "yes"


# -- reload ------------------------------------------------------------------------------------


def test_reload_uses_systemctl_for_exactly_that_daemon(host):
    host.daemon("virtqemud", 77)
    host.daemon("virtnetworkd", 78)
    ok, what = libvirt_host.reload_daemon(host, "virtqemud")
    assert ok and host.commands == [["systemctl", "reload", "virtqemud.service"]]


def test_reload_without_systemd_sends_sighup_to_its_pid(tmp_path):
    host = FakeHost(tmp_path / "h", systemd=False)
    host.daemon("libvirtd", 77)
    assert libvirt_host.reload_daemon(host, "libvirtd")[0]
    assert host.commands == [["kill", "-HUP", "77"]]


def test_reload_falls_back_to_sighup_when_systemctl_fails(tmp_path):
    host = FakeHost(tmp_path / "h", reload_status=1)
    host.daemon("libvirtd", 77)
    ok, what = libvirt_host.reload_daemon(host, "libvirtd")
    assert host.commands == [["systemctl", "reload", "libvirtd.service"],
                             ["kill", "-HUP", "77"]]
    assert not ok and "could not reload libvirtd" in what


def test_reload_of_a_daemon_that_is_not_running_does_nothing(host):
    assert libvirt_host.reload_daemon(host, "virtxend")[0] and host.commands == []


def test_reload_never_picks_between_several_processes(host):
    host.daemon("libvirtd", 77)
    host.daemon("libvirtd", 78)
    assert not libvirt_host.reload_daemon(host, "libvirtd")[0] and host.commands == []
