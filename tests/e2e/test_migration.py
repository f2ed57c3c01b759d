"""A live migration between two real libvirtds, each with the shim: the destination's `migrate`
filter rewrites the disk path (the documented use of the hook), and the server links the two
hosts' boots of the guest.

Two private daemons share one network namespace (qemu migrates over 127.0.0.1) but have their
own mount namespaces, so each is a separate "host" with its own /etc/libvirt and state.
"""
import textwrap

import pytest

from tests.conftest import skip_or_fail
from tests.e2e.harness import LibvirtUnavailable, PrivateLibvirt, check_prerequisites, guest_xml
from tests.e2e.server import Server
from tests.e2e.shim import Shim, forward

pytestmark = [pytest.mark.libvirt, pytest.mark.slow]

SRC, DST = "e2e-src", "e2e-dst"


@pytest.fixture(scope="module")
def two_hosts(tmp_path_factory):
    try:
        check_prerequisites()
    except LibvirtUnavailable as exc:
        skip_or_fail(f"no private libvirtd on this machine: {exc}")
    daemons = []
    try:
        src = PrivateLibvirt().setup()
        daemons.append(src)
        dst = PrivateLibvirt(share_net_with=src).setup()
        daemons.append(dst)
        shims = Shim(src, host=SRC), Shim(dst, host=DST)
        policy_dir = tmp_path_factory.mktemp("migrate-policy")
        (policy_dir / "move.yaml").write_text(textwrap.dedent(f"""
            - id: move-images
              match: {{op: [migrate]}}
              mutate:
                - replace_prefix: {{path: "./devices/disk/source", attribute: file,
                                   from: "{src.root}/images/", to: "{dst.root}/images/"}}
        """))
        for shim in shims:
            shim.install()
            shim.lv.start()
        shims[1].set_policies(policy_dir)
        yield shims
    finally:
        for lv in reversed(daemons):
            lv.close()


def test_live_migration_uses_the_destinations_rewritten_disk_and_links_the_boots(two_hosts,
                                                                                  tmp_path):
    src_shim, dst_shim = two_hosts
    src, dst = src_shim.lv, dst_shim.lv
    old, new = src.root / "images/disk.img", dst.root / "images/disk.img"
    for image in (old, new):
        image.parent.mkdir(exist_ok=True)
        image.write_bytes(b"\0" * (1 << 20))
    src.define(guest_xml("hkm-guest", disk=old))
    src.ok("start", "hkm-guest")
    uuid = src.ok("domuuid", "hkm-guest").strip()
    # --unsafe: the two "hosts" share no storage; the disk is unused by the guest anyway
    src.ok("migrate", "--live", "--unsafe", "hkm-guest", dst.uri,
           "--migrateuri", "tcp://127.0.0.1")

    assert dst.state("hkm-guest") == "running"
    assert f"<source file='{new}'" in dst.ok("dumpxml", "hkm-guest")
    assert any(str(new) in arg for arg in dst.qemu_cmdline("hkm-guest"))
    dst_events = dst_shim.events()
    assert [e["op"] for e in dst_events if e["driver"] == "qemu"] == [
        "migrate", "prepare", "start", "started"]
    migrate = next(e for e in dst_events if e["op"] == "migrate")
    assert str(old) in migrate["xml"] and str(new) in migrate["output_xml"]
    assert [(d["rule_id"], d["verdict"]) for d in migrate["policy"]["decisions"]] == [
        ("move-images", "mutate")]
    assert [e["op"] for e in src_shim.events() if e["driver"] == "qemu"] == [
        "prepare", "start", "started", "stopped", "release"]

    server = Server(tmp_path, SRC, DST).start()
    try:
        for shim in two_hosts:
            proc = forward(shim, server)
            assert proc.returncode == 0, proc.stderr
        timeline = server.get(f"/api/v1/guests/{uuid}/timeline")
    finally:
        server.stop()
    boots = [(b["host"], b["via"], b["status"], b["migrated_from"], b["migrated_to"])
             for b in timeline["boots"]]
    assert boots == [(SRC, "start", "ended", None, 1), (DST, "migration", "running", 0, None)]
    dst.ok("destroy", "hkm-guest")
