"""The Debian package: layout, lintian, and its maintainer scripts run by a real dpkg into a
private root (``dpkg --root --force-script-chrootless``: this machine's /etc is never touched)."""
import subprocess

import pytest

from tests.rollout.conftest import NEW, OLD, require
from tests.rollout.host import LEGACY, XML, HOOK_ENV, assert_gapless_chain

from hookshim.spool import Spool


def deb(dists, version):
    require("dpkg-deb")
    return dists[version] / ("hookshim_%s_all.deb" % version)


class Root:
    """A private dpkg root with a libvirt hooks dir holding the host's own hook."""

    def __init__(self, path):
        self.path = path
        for d in ("var/lib/dpkg/info", "var/lib/dpkg/updates", "etc/libvirt/hooks",
                  "etc/hookshim"):
            (path / d).mkdir(parents=True)
        (path / "var/lib/dpkg/status").touch()
        self.hook = path / "etc/libvirt/hooks/libxl"
        self.hook.write_bytes(LEGACY)
        self.hook.chmod(0o750)

    def configure(self, text):
        (self.path / "etc/hookshim/install.conf").write_text(text)

    def dpkg(self, *args):
        proc = subprocess.run(["dpkg", "--root=%s" % self.path, "--force-script-chrootless",
                               "--force-depends", "--force-not-root", "--force-confold",
                               "--log=/dev/null", *args], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    def call_hook(self):
        proc = subprocess.run([str(self.hook), "g1", "prepare", "begin", "-"], input=XML,
                              capture_output=True, text=True, env=HOOK_ENV)
        assert (proc.returncode, proc.stderr) == (0, "")

    def events(self):
        with Spool(str(self.path / "var/lib/hookshim/spool.db")) as spool:
            return [ev for _, ev in spool.rows(limit=10000)]


@pytest.fixture
def root(tmp_path):
    require("dpkg")
    return Root(tmp_path / "root")


def test_deb_holds_fhs_paths_conffile_and_maintainer_scripts(dists):
    package = deb(dists, OLD)
    info = subprocess.run(["dpkg-deb", "--info", str(package)], capture_output=True,
                          text=True, check=True).stdout
    assert "Package: hookshim" in info and "Version: %s" % OLD in info
    assert "Architecture: all" in info and "Depends: python3 (>= 3.9)" in info
    for script in ("postinst", "prerm", "postrm", "conffiles", "md5sums"):
        assert script in info
    contents = subprocess.run(["dpkg-deb", "--contents", str(package)], capture_output=True,
                              text=True, check=True).stdout
    paths = {line.split()[-1].lstrip(".") for line in contents.splitlines()}
    assert {"/usr/lib/hookshim/hookshim.pyz", "/usr/bin/hookshim",
            "/lib/systemd/system/hookshim-forward.service", "/etc/hookshim/install.conf",
            "/usr/share/doc/hookshim/copyright"} <= paths
    conffiles = subprocess.run(["dpkg-deb", "-I", str(package), "conffiles"],
                               capture_output=True, text=True, check=True).stdout
    assert conffiles.split() == ["/etc/hookshim/install.conf"]


def test_deb_is_lintian_clean(dists):
    require("lintian")
    proc = subprocess.run(["lintian", "--tag-display-limit", "0", str(deb(dists, OLD))],
                          capture_output=True, text=True)
    tags = [line for line in proc.stdout.splitlines() if line[:2] in ("E:", "W:")]
    assert tags == []


def test_deb_without_drivers_installs_files_and_leaves_hooks_alone(root, dists):
    root.configure('DRIVERS=""\n')
    out = root.dpkg("-i", str(deb(dists, OLD)))
    assert "libvirt hooks left alone" in out
    assert root.hook.read_bytes() == LEGACY
    assert (root.path / "usr/lib/hookshim/hookshim.pyz").is_file()


def test_deb_install_upgrade_downgrade_and_removal_lose_nothing(root, dists):
    root.configure('DRIVERS="libxl qemu"\n')
    root.dpkg("-i", str(deb(dists, OLD)))
    assert b"hookshim launcher" in root.hook.read_bytes()
    root.call_hook()
    root.dpkg("-i", str(deb(dists, NEW)))     # upgrade
    root.call_hook()
    root.dpkg("-i", str(deb(dists, OLD)))     # downgrade
    root.call_hook()
    events = root.events()
    assert [e["shim"]["version"] for e in events] == [OLD, NEW, OLD]
    assert_gapless_chain(events)
    root.dpkg("-r", "hookshim")
    assert root.hook.read_bytes() == LEGACY and root.hook.stat().st_mode & 0o777 == 0o750
    assert sorted(p.name for p in root.hook.parent.iterdir()) == ["libxl"]
    root.dpkg("-P", "hookshim")
    assert not (root.path / "var/lib/hookshim/releases").exists()
    assert (root.path / "var/lib/hookshim/spool.db").exists()   # audit data is kept


def test_deb_build_is_byte_for_byte_reproducible(tmp_path, dists):
    from tests.rollout.conftest import build

    again = build(tmp_path / "again", OLD) / ("hookshim_%s_all.deb" % OLD)
    assert again.read_bytes() == deb(dists, OLD).read_bytes()
