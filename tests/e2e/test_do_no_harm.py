"""Do no harm, against a real libvirtd 9.0.0: with the shim installed, libvirt behaves as it
did with the host's own scripts alone (issue 12).

One daemon for the module. The host's qemu.d scripts are adopted by `hookshim install`:
``10-log`` logs every call and prints a lone newline on ``restore`` (a filter output that
libvirt reads as "no change"); ``20-first`` and ``30-last`` both refuse one guest, with
different messages, so what virsh shows tells which failure libvirt reported.
"""
import re
import subprocess

import pytest

from tests.e2e.harness import guest_xml, wait_for
from tests.e2e.shim import Shim, hookshim

pytestmark = [pytest.mark.libvirt, pytest.mark.slow]

REFUSED = "hkd-refused"
SCRIPTS = {
    "10-log": """#!/bin/sh
echo "$1 $2" >> {log}
if [ "$2" = restore ]; then cat >/dev/null; printf '\\n'; fi
exit 0
""",
    "20-first": """#!/bin/sh
if [ "$1:$2" = "{refused}:prepare" ]; then echo "first refusal" >&2; exit 2; fi
""",
    "30-last": """#!/bin/sh
if [ "$1:$2" = "{refused}:prepare" ]; then
  printf 'last refusal: line one\\n\\n  line three, indented\\n' >&2; exit 3
fi
""",
}


@pytest.fixture(scope="module")
def harmless(private_libvirt):
    lv = private_libvirt
    lv.reset()
    log = lv.root / "do-no-harm.log"
    d = lv.hooks_dir / "qemu.d"
    d.mkdir()
    for name, body in SCRIPTS.items():
        (d / name).write_text(body.format(log=log, refused=REFUSED))
        (d / name).chmod(0o755)
    shim = Shim(lv)
    shim.install()
    shim.write_config(libvirt_version="9.0.0")
    lv.start()
    yield lv, shim, log
    lv.reset()


def test_restore_succeeds_when_a_qemu_d_script_prints_only_a_newline(harmless):
    lv, shim, log = harmless
    lv.define(guest_xml("hkd-save"))
    lv.ok("start", "hkd-save")
    image = lv.root / "hkd-save.save"
    lv.ok("save", "hkd-save", str(image))
    shim.skip_to_now()
    proc = lv.virsh("restore", str(image))
    image.unlink()
    assert proc.returncode == 0, proc.stderr
    assert lv.state("hkd-save") == "running"
    restore = shim.new_events()[0]
    assert (restore["op"], restore["outcome"], restore["output_xml"]) == ("restore", "ok", None)
    lv.forget("hkd-save")


def _read_only(lv, path, on):
    """(Re)mount ``path`` read-only inside libvirtd's mount namespace, or undo it."""
    script = (f"mount --bind '{path}' '{path}' && mount -o remount,ro,bind '{path}'" if on
              else f"umount '{path}'")
    subprocess.run(["nsenter", "-t", str(lv.holder.pid), "-m", "--", "sh", "-c", script],
                   check=True, capture_output=True)


def test_a_running_guest_survives_a_daemon_restart_while_the_spool_cannot_be_written(harmless):
    """on_record_failure = deny, spool on a read-only filesystem: the reconnect hook cannot
    be recorded, and refusing it would make libvirt destroy the guest. It must answer 0."""
    lv, shim, log = harmless
    shim.write_config(libvirt_version="9.0.0", on_record_failure="deny")
    lv.define(guest_xml("hkd-keep"))
    lv.ok("start", "hkd-keep")
    _read_only(lv, shim.state_dir, True)
    try:
        lv.restart()
        assert wait_for(lambda: "hkd-keep reconnect" in log.read_text())
        # libvirt destroys the guest right after a refused reconnect: give it every chance
        assert not wait_for(lambda: lv.state("hkd-keep") != "running", timeout=10)
    finally:
        _read_only(lv, shim.state_dir, False)
        shim.write_config(libvirt_version="9.0.0")
    assert lv.ok("domstate", "hkd-keep", "--reason").strip() == "running (booted)"
    lv.forget("hkd-keep")


def _hook_error(stderr):
    """What libvirt reported about the hook: status and the script's stderr, as virsh shows it."""
    m = re.search(r"unexpected (exit status \d+): (.*)", stderr, re.S)
    assert m, stderr
    return m.group(1), m.group(2)


def test_a_refused_start_shows_in_virsh_what_libvirt_shows_without_the_shim(harmless):
    """Both adopted scripts refuse; libvirt reports the last one, whole. Then the same scripts
    without the shim (uninstalled, daemon restarted): virsh shows the same text."""
    lv, shim, _ = harmless
    lv.define(guest_xml(REFUSED))
    shim.skip_to_now()
    with_shim = lv.virsh("start", REFUSED)
    assert with_shim.returncode != 0
    status, said = _hook_error(with_shim.stderr)
    assert status == "exit status 3"
    assert said.startswith("last refusal: line one\n\n  line three, indented")
    assert "first refusal" not in with_shim.stderr
    prepare = shim.new_events()[0]
    assert prepare["stderr"] == "last refusal: line one\n\n  line three, indented\n"
    assert prepare["outcome"] == "aborted"
    hookshim("uninstall", "--hooks-dir", str(lv.hooks_dir), "--config", str(shim.config),
             "qemu", "network", "daemon")
    lv.restart()
    without = lv.virsh("start", REFUSED)
    assert without.returncode != 0
    assert _hook_error(without.stderr) == (status, said)
    lv.forget(REFUSED)
