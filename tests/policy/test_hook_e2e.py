"""End to end through the installed launcher, called the way libvirtd calls it.

`hookshim install` writes the launcher; the example policies compiled by the server code are
written where the forwarder would put them; each call runs with libvirtd's environment
(`env -i LC_ALL=C PATH=...`, cwd /) and its spool row is read back.
"""
import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from app.policy.compiler import compile_dir, dump_bundle
from app.policy.testing import tree_difference
from hookshim.spool import Spool
from tests.conftest import REPO

XML = REPO / "policies" / "tests" / "xml"


@pytest.fixture(scope="module")
def shim(tmp_path_factory):
    root = tmp_path_factory.mktemp("shim")
    hooks, state, conf = root / "hooks", root / "state", root / "hookshim.conf"
    hooks.mkdir()
    state.mkdir()
    subprocess.run([sys.executable, "-m", "hookshim", "install", "--hooks-dir", str(hooks),
                    "--state-dir", str(state), "--config", str(conf), "--no-unit", "libxl", "qemu"],
                   check=True, capture_output=True, cwd=REPO)
    with conf.open("a") as f:
        f.write("host = dom0-a\n")
    bundle, findings = compile_dir(REPO / "policies")
    assert bundle is not None, findings
    (state / "policy-bundle.json").write_bytes(dump_bundle(bundle))
    return {"hooks": hooks, "state": state, "bundle": bundle}


def hook(shim, driver, *args, xml_file=None, xml=None):
    data = xml if xml is not None else (XML / xml_file).read_bytes() if xml_file else b""
    proc = subprocess.run(["env", "-i", "LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                           str(shim["hooks"] / driver), *args], input=data, capture_output=True,
                          cwd="/", timeout=60)
    return proc


def last_event(shim):
    sp = Spool(str(shim["state"] / "spool.db"))
    try:
        return sp.latest(limit=100000)[-1]
    finally:
        sp.close()


def decision(event, rule_id):
    return next(d for d in event["policy"]["decisions"] if d["rule_id"] == rule_id)


def test_denied_prepare_exits_non_zero_with_one_stderr_line_and_is_recorded(shim):
    p = hook(shim, "libxl", "prod-db1", "prepare", "begin", "-", xml_file="prod-hostdev.xml")
    assert p.returncode != 0 and p.stdout == b""
    lines = p.stderr.decode().splitlines()
    assert lines == ["denied by hookaudit policy: no-hostdev-in-prod: "
                     "PCI passthrough is not allowed for production guests"]
    ev = last_event(shim)
    assert (ev["op"], ev["outcome"], ev["exit_code"]) == ("prepare", "aborted", p.returncode)
    assert ev["policy"]["bundle_version"] == shim["bundle"]["version"]
    assert decision(ev, "no-hostdev-in-prod") == {
        "rule_id": "no-hostdev-in-prod", "mode": "enforce", "verdict": "deny",
        "message": "PCI passthrough is not allowed for production guests", "error": None}


def test_warn_rule_allows_and_records_the_warning(shim):
    p = hook(shim, "libxl", "prod-db1", "prepare", "begin", "-", xml_file="no-description.xml")
    assert (p.returncode, p.stderr) == (0, b"")
    ev = last_event(shim)
    assert ev["outcome"] == "ok"
    assert decision(ev, "require-description")["mode"] == "warn"
    assert decision(ev, "require-description")["verdict"] == "deny"


def test_dryrun_rule_allows_and_records_what_it_would_have_done(shim):
    p = hook(shim, "qemu", "prod-db1", "prepare", "begin", "-", xml_file="vcpu-48.xml")
    assert (p.returncode, p.stderr) == (0, b"")
    d = decision(last_event(shim), "vcpu-cap")
    assert (d["mode"], d["verdict"], d["message"]) == ("dryrun", "deny", "more than 32 vCPUs")


def test_migrate_rewrite_changes_only_the_disk_path(shim):
    p = hook(shim, "libxl", "web1", "migrate", "begin", "-", xml_file="migrate-in.xml")
    assert p.returncode == 0
    out = ET.fromstring(p.stdout)  # libvirt cancels the migration if this does not parse
    want = ET.fromstring((XML / "migrate-in.xml").read_text())
    want.find("./devices/disk/source").set("file", "/srv/images/web1.img")
    assert tree_difference(want, out) is None
    ev = last_event(shim)
    assert decision(ev, "move-images")["verdict"] == "mutate"
    assert ev["output_xml"] is not None and "/srv/images/web1.img" in ev["output_xml"]


def test_migrate_without_a_change_prints_nothing(shim):
    p = hook(shim, "libxl", "web1", "migrate", "begin", "-", xml_file="migrate-other-path.xml")
    assert (p.returncode, p.stdout) == (0, b"")


def test_broken_bundle_file_fails_open_and_keeps_answering(shim):
    path = shim["state"] / "policy-bundle.json"
    good = path.read_bytes()
    try:
        for broken in (b"{not json", json.dumps({"format": 99}).encode(), good[: len(good) // 2]):
            path.write_bytes(broken)
            p = hook(shim, "libxl", "prod-db1", "prepare", "begin", "-", xml_file="prod-hostdev.xml")
            assert (p.returncode, p.stderr) == (0, b"")  # the deny rule is not applied: fail open
            ev = last_event(shim)
            assert ev["outcome"] == "ok" and ev["policy"] is None
            assert any("policy not applied (fail open)" in w for w in ev["warnings"])
    finally:
        path.write_bytes(good)
    assert hook(shim, "libxl", "prod-db1", "prepare", "begin", "-",
                xml_file="prod-hostdev.xml").returncode != 0


def test_unparsable_xml_fails_open_and_records_the_error(shim):
    p = hook(shim, "libxl", "prod-db1", "prepare", "begin", "-", xml=b"<domain><name>prod-db1")
    assert p.returncode == 0
    d = decision(last_event(shim), "no-hostdev-in-prod")
    assert d["verdict"] == "error" and "does not parse" in d["error"]


def test_lint_refuses_a_reconnect_deny_without_opt_in(tmp_path):
    (tmp_path / "p.yaml").write_text(
        "- id: kill-on-reconnect\n  match: {op: [reconnect]}\n  mode: enforce\n"
        "  deny_if: {exists: ./devices/hostdev}\n  message: no\n")
    p = subprocess.run([sys.executable, "-m", "app.cli", "policy", "lint", str(tmp_path)],
                       capture_output=True, text=True, cwd=REPO)
    assert p.returncode == 1
    assert "p.yaml [kill-on-reconnect]: error: enforce deny matches reconnect" in p.stdout


def test_policy_test_command_passes_on_the_example_set():
    p = subprocess.run([sys.executable, "-m", "app.cli", "policy", "test"], capture_output=True,
                       text=True, cwd=REPO, env={"HOOKAUDIT_POLICY_DIR": str(REPO / "policies"),
                                                 "PATH": "/usr/bin:/bin"})
    assert p.returncode == 0, p.stdout + p.stderr
    assert " 0 failed" in p.stdout


def test_policy_rewrite_runs_before_the_adopted_filter_scripts(tmp_path):
    # the host had its own migrate filter before hookshim: it moves /srv/images to /mnt/images.
    # It can only do that if it receives the XML the policy already rewrote.
    hooks, state, conf = tmp_path / "hooks", tmp_path / "state", tmp_path / "hookshim.conf"
    hooks.mkdir()
    state.mkdir()
    own = hooks / "libxl"
    own.write_text("#!/bin/sh\nif [ \"$2\" = migrate ]; then sed 's#/srv/images/#/mnt/images/#'; "
                   "else cat >/dev/null; fi\n")
    own.chmod(0o755)
    subprocess.run([sys.executable, "-m", "hookshim", "install", "--hooks-dir", str(hooks),
                    "--state-dir", str(state), "--config", str(conf), "--no-unit", "libxl"],
                   check=True, capture_output=True, cwd=REPO)
    bundle, _ = compile_dir(REPO / "policies")
    (state / "policy-bundle.json").write_bytes(dump_bundle(bundle))
    p = hook({"hooks": hooks}, "libxl", "web1", "migrate", "begin", "-", xml_file="migrate-in.xml")
    assert p.returncode == 0, p.stderr
    out = ET.fromstring(p.stdout)
    assert out.find("./devices/disk/source").get("file") == "/mnt/images/web1.img"
