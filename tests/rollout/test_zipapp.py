"""The single-file zipapp: reproducible, and the whole shim with the host's isolated Python."""
import json
import zipfile

import pytest

from hookshim.release import ReleaseError, unpack
from tests.forwarder.scripted import ScriptedServer
from tests.rollout.conftest import NEW, OLD, build
from tests.rollout.host import LEGACY, Host


def test_zipapp_build_is_byte_for_byte_reproducible(tmp_path, pyz):
    again = build(tmp_path / "again", OLD, "--no-deb") / "hookshim.pyz"
    assert again.read_bytes() == pyz[OLD].read_bytes()
    assert pyz[NEW].read_bytes() != pyz[OLD].read_bytes()


def test_zipapp_holds_the_package_sorted_with_fixed_times_and_no_caches(pyz):
    with zipfile.ZipFile(pyz[OLD]) as zf:
        infos = zf.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert {"__main__.py", "hookshim/__init__.py", "hookshim/hook.py", "hookshim/forward.py",
            "hookshim/release.py", "hookshim/systemd/__init__.py"} <= set(names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert pyz[OLD].read_bytes().startswith(b"#!/usr/bin/env python3\n")


def test_zipapp_reports_the_version_it_was_built_with(tmp_path, pyz):
    host = Host(tmp_path)
    assert host.pyz(pyz[NEW], "version").stdout.strip() == NEW


def test_zipapp_installs_records_reports_forwards_and_uninstalls(tmp_path, pyz):
    host = Host(tmp_path)
    host.install(pyz[OLD])
    call = host.call()
    assert call.returncode == 0, call.stderr
    status = json.loads(host.pyz(pyz[OLD], "status", "--json").stdout)
    assert status["depth"] == 1
    token = tmp_path / "token"
    token.write_text("t0ken\n")
    with ScriptedServer() as server:
        with open(host.config, "a") as f:
            f.write("server_url = %s\ntoken_file = %s\n" % (server.url, token))
        host.pyz(pyz[OLD], "forward", "--once")
    sent = [e for post in server.posts() for e in post.json()["events"]]
    assert [(e["seq"], e["shim"]["version"]) for e in sent] == [(1, OLD)]
    assert json.loads(host.pyz(pyz[OLD], "status", "--json").stdout)["depth"] == 0
    host.pyz(pyz[OLD], "uninstall", "--hooks-dir", str(host.hooks), "libxl")
    assert (host.hooks / "libxl").read_bytes() == LEGACY


def test_zipapp_hook_runs_from_the_unpacked_release_not_the_archive(tmp_path, pyz):
    host = Host(tmp_path)
    archive = tmp_path / "downloaded.pyz"
    archive.write_bytes(pyz[OLD].read_bytes())
    host.install(archive)
    release = host.launcher_release()
    assert release.startswith(OLD + "-")
    assert (host.state / "releases" / release / "hookshim" / "hook.py").is_file()
    archive.unlink()   # the downloaded archive is not needed any more
    call = host.call()
    assert call.returncode == 0 and call.stderr == ""
    assert [e["shim"]["version"] for e in host.events()] == [OLD]


def test_unpack_refuses_an_archive_with_paths_leaving_the_release(tmp_path):
    evil = tmp_path / "evil.pyz"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("hookshim/__init__.py", '__version__ = "6.6.6"\n')
        zf.writestr("hookshim/../../../escaped.py", "x = 1\n")
    with pytest.raises(ReleaseError, match="unsafe path"):
        unpack(str(evil), str(tmp_path / "releases"))
    assert not (tmp_path / "escaped.py").exists()
    assert list((tmp_path / "releases").iterdir()) == []   # nothing half-unpacked left
