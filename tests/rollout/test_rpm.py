"""The RPM for EL / XCP-ng hosts: the spec parses, and rpmbuild makes the package with the
same files and maintainer-script logic as the .deb."""
import hashlib
import subprocess

from tests.conftest import REPO
from tests.rollout.conftest import NEW, build, require

SPEC = REPO / "packaging" / "rpm" / "hookshim.spec"


def rpm_query(package, *args):
    return subprocess.run(["rpm", "-qp", *args, str(package)], capture_output=True, text=True,
                          check=True).stdout


def test_rpm_spec_parses_with_the_version_it_is_given():
    require("rpmspec")
    out = subprocess.run(["rpmspec", "-q", "--define", "version_override 2.3.4", "--srpm",
                          "--queryformat", "%{NAME} %{VERSION} %{ARCH}\n", str(SPEC)],
                         capture_output=True, text=True, check=True).stdout
    assert out.split() == ["hookshim", "2.3.4", "noarch"]


def test_rpm_builds_with_the_packaged_layout_and_scriptlets(tmp_path):
    require("rpmbuild")
    dist = build(tmp_path / "dist", NEW, "--no-deb", "--rpm")
    package = dist / ("hookshim-%s-1.noarch.rpm" % NEW)
    files = set(rpm_query(package, "-l").split())
    assert {"/usr/lib/hookshim/hookshim.pyz", "/usr/lib/hookshim/hookshim-pkg",
            "/usr/bin/hookshim", "/usr/lib/systemd/system/hookshim-forward.service",
            "/etc/hookshim/install.conf"} <= files
    assert rpm_query(package, "-c").split() == ["/etc/hookshim/install.conf"]
    scripts = rpm_query(package, "--scripts")
    assert "hookshim-pkg configure" in scripts and "hookshim-pkg remove" in scripts
    dump = {line.split()[0]: line.split()[3] for line in rpm_query(package, "--dump").splitlines()}
    zipapp = hashlib.sha256((dist / "hookshim.pyz").read_bytes()).hexdigest()
    assert dump["/usr/lib/hookshim/hookshim.pyz"] == zipapp   # the very zipapp that was built


def test_rpm_build_is_byte_for_byte_reproducible(tmp_path):
    require("rpmbuild")
    name = "hookshim-%s-1.noarch.rpm" % NEW
    first = build(tmp_path / "one", NEW, "--no-deb", "--rpm") / name
    second = build(tmp_path / "two", NEW, "--no-deb", "--rpm") / name
    assert first.read_bytes() == second.read_bytes()
