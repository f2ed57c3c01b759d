"""The policy hook point (contract section 4), with bundles compiled by the server's compiler."""
import pytest

XML = (b"<domain type='xen'><name>prod-db1</name>"
       b"<uuid>cccccccc-2222-3333-4444-555555555555</uuid><memory unit='KiB'>1048576</memory>"
       b"<devices><disk type='file'><source file='/var/lib/xen/images/a.img'/></disk>"
       b"</devices></domain>")

POLICIES = """
- id: no-prod-on-this-host
  match: {op: [prepare, release], object: "prod-*"}
  mode: enforce
  deny_if: {exists: "./name"}
  message: "production guests do not run on this host"
- id: move-images
  match: {op: [migrate]}
  mutate:
    - replace_prefix: {path: "./devices/disk/source", attribute: file,
                       from: "/var/lib/xen/images/", to: "/srv/images/"}
"""


@pytest.fixture
def policed(shim, tmp_path):
    compiler = pytest.importorskip("app.policy.compiler")
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "site.yaml").write_text(POLICIES)
    bundle, findings = compiler.compile_dir(tmp_path / "policies")
    assert bundle is not None, findings
    shim.install("libxl")
    shim.state_dir.mkdir(exist_ok=True)
    (shim.state_dir / "policy-bundle.json").write_bytes(compiler.dump_bundle(bundle))
    return shim, bundle


def test_policy_deny_refuses_with_one_line_and_skips_the_adopted_scripts(policed, tmp_path):
    shim, bundle = policed
    shim.adopted_script("libxl", "main", "touch %s" % (tmp_path / "ran"))
    proc = shim.call("libxl", "prod-db1", "prepare", "begin", stdin=XML)
    assert proc.returncode == 1
    assert proc.stderr.startswith(b"denied by hookaudit policy: ")
    assert proc.stderr.endswith(b"production guests do not run on this host\n")
    assert proc.stderr.count(b"\n") == 1
    assert not (tmp_path / "ran").exists()     # no half-started resources to clean up
    ev = shim.last()
    assert (ev["outcome"], ev["scripts"]) == ("aborted", [])
    assert ev["policy"]["bundle_version"] == bundle["version"]
    assert ev["policy"]["decisions"][0]["rule_id"] == "no-prod-on-this-host"


def test_denied_cleanup_op_still_runs_the_hosts_cleanup(policed, tmp_path):
    shim, _ = policed
    shim.adopted_script("libxl", "main", "touch %s" % (tmp_path / "cleaned"))
    proc = shim.call("libxl", "prod-db1", "release", "end", stdin=XML)
    assert proc.returncode == 1 and (tmp_path / "cleaned").exists()
    assert shim.last()["outcome"] == "failed_ignored"


def test_denied_cleanup_op_shows_the_scripts_stderr_then_the_policy_line(policed):
    """virsh shows what it would have shown without the shim, plus the deny's one line."""
    shim, _ = policed
    shim.adopted_script("libxl", "main", "echo 'umount failed' >&2; exit 2")
    proc = shim.call("libxl", "prod-db1", "release", "end", stdin=XML)
    assert proc.returncode == 1
    said = proc.stderr.decode()
    assert said.startswith("umount failed\ndenied by hookaudit policy: ")
    assert shim.last()["stderr"] == said


def test_deny_on_started_is_guard_railed_per_driver_and_release(shim, tmp_path):
    """A refused libxl started destroys (9.0+) or drops (2.2.0) a running domain: the guard
    rail holds whatever the host's release; bhyve has no reconnect to protect."""
    compiler = pytest.importorskip("app.policy.compiler")
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "x.yaml").write_text(
        "- {id: all, match: {op: [prepare]}, mode: enforce, "
        "deny_if: {exists: ./name}, message: no}\n")
    bundle, findings = compiler.compile_dir(tmp_path / "p")
    # a hand-edited bundle: the linter would have refused these ops
    bundle["by_op"]["started"] = bundle["by_op"]["reconnect"] = bundle["by_op"]["prepare"]
    from hookshim.policy import evaluate

    def denied(driver, op, version):
        call = {"driver": driver, "op": op, "object": "g", "libvirt_version": version}
        return evaluate(bundle, call, XML.decode()).deny

    assert not denied("libxl", "started", "2.2.0") and not denied("libxl", "reconnect", "9.0.0")
    assert denied("bhyve", "reconnect", "9.0.0")         # no such op to protect there
    assert denied("libxl", "prepare", None)


def test_policy_rewrite_comes_before_the_adopted_filter_chain(policed, tmp_path):
    shim, _ = policed
    shim.adopted_script("libxl", "main", "tee %s | sed 's|a.img|b.img|'" % (tmp_path / "seen"))
    proc = shim.call("libxl", "web1", "migrate", "begin", stdin=XML)
    assert proc.returncode == 0
    assert b"/srv/images/" in (tmp_path / "seen").read_bytes()   # the script saw the rewrite
    assert b"/srv/images/b.img" in proc.stdout                    # and refined it
    assert shim.last()["output_xml"] == proc.stdout.decode()
