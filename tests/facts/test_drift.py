"""Definition drift: run-time additions are ignored, real changes are classified."""
import pytest

from app.facts import FactsError
from app.facts.drift import definition_drift, normalise_definition
from tests.facts.helpers import fixture

PREPARE = fixture("qemu-prepare.xml")
LIVE = fixture("qemu-live.xml")


def _edit(xml: str, old: str, new: str) -> str:
    assert old in xml, old
    return xml.replace(old, new, 1)


def _summary(before: str, after: str) -> list[tuple[str, str, str]]:
    return [(c.category, c.item, c.action) for c in definition_drift(before, after).changes]


@pytest.mark.parametrize("before, after", [
    # the prepare XML and the live XML of one boot: ids, aliases, backing chains, tap names,
    # port ids, allocated ports, pty paths, generated sockets, dynamic seclabels, /machine
    (PREPARE, LIVE),
    (LIVE, PREPARE),
    # the same memory written in other units
    (PREPARE, _edit(PREPARE, "<memory unit='KiB'>4194304</memory>",
                    "<memory unit='GiB'>4</memory>")),
    # attribute order and whitespace are not changes
    (PREPARE, _edit(PREPARE, "<vcpu placement='static' current='2'>4</vcpu>",
                    "<vcpu current='2'   placement='static'>\n 4 </vcpu>")),
    # libvirt chose another PCI slot for a device
    (PREPARE, _edit(PREPARE, "bus='0x04' slot='0x00'", "bus='0x09' slot='0x00'")),
    # a USB hostdev found by vendor/product sits at another bus/device this boot
    (PREPARE, _edit(PREPARE, "<address bus='1' device='4'/>", "<address bus='3' device='9'/>")),
    # libxl: the live vif name
    (fixture("xen-hvm.xml"), _edit(fixture("xen-hvm.xml"), "<model type='e1000'/>",
                                   "<target dev='vif3.0'/><model type='e1000'/>")),
])
def test_runtime_differences_are_no_drift(before, after):
    drift = definition_drift(before, after)
    assert drift.changes == () and drift.diff == ""


# One row per run-time addition libvirt makes (src/conf/domain_conf.c, 9.0.0): each alone.
@pytest.mark.parametrize("old, new", [
    ("<domain type='kvm' id='7'>", "<domain type='kvm'>"),                    # domain id
    ("<target dev='vda' bus='virtio'/>",                                      # device alias
     "<target dev='vda' bus='virtio'/><alias name='virtio-disk0'/>"),
    ("<target dev='vda' bus='virtio'/>",                                      # backing chain
     "<backingStore type='file' index='4'><source file='/b.raw'/></backingStore>"
     "<target dev='vda' bus='virtio'/>"),
    ("web-01.qcow2'/>", "web-01.qcow2' index='3'/>"),                          # source index
    ("portgroup='web'/>", "portgroup='web' portid='0d3c2ba4-5e8f-4c4f-9f0a-3f4b6a1d2c10'/>"),
    ("portgroup='web'/>", "portgroup='web' bridge='virbr1'/>"),               # network's bridge
    ("<model type='virtio'/>", "<target dev='vnet3'/><model type='virtio'/>"),  # tap name
    ("<source dev='eno2' mode='vepa'/>",                                      # macvtap name
     "<source dev='eno2' mode='vepa'/><target dev='macvtap0'/>"),
    ("port='-1' autoport='yes' websocket='-1'", "port='5907' autoport='yes' websocket='5707'"),
    ("port='-1' tlsPort='-1' autoport='yes'", "port='5908' tlsPort='5909' autoport='yes'"),
    ("<listen type='network' network='default'/>",                            # resolved listen
     "<listen type='network' address='192.168.122.1' network='default'/>"),
    ("<console type='pty'>", "<console type='pty' tty='/dev/pts/3'><source path='/dev/pts/3'/>"),
    ("<channel type='unix'>", "<channel type='unix'><source mode='bind' path='/var/lib/libvirt/"
     "qemu/channel/target/domain-7-web-01/org.qemu.guest_agent.0'/>"),
    ("name='org.qemu.guest_agent.0'/>", "name='org.qemu.guest_agent.0' state='connected'/>"),
    ("</devices>", "</devices><seclabel type='dynamic' model='dac' relabel='yes'>"
     "<label>+64055:+64055</label><imagelabel>+64055:+64055</imagelabel></seclabel>"),
    ("<os>", "<resource><partition>/machine</partition></resource><os>"),
])
def test_each_runtime_addition_alone_is_no_drift(old, new):
    assert _summary(PREPARE, _edit(PREPARE, old, new)) == []


@pytest.mark.parametrize("old, new, expected", [
    # a static seclabel, and a cgroup partition of one's own, are configuration
    ("</devices>", "</devices><seclabel type='static' model='selinux' relabel='no'>"
     "<label>system_u:system_r:svirt_t:s0:c1</label></seclabel>",
     [("other", "seclabel", "added")]),
    ("<os>", "<resource><partition>/tenants/a</partition></resource><os>",
     [("other", "resource", "added")]),
    # a tap device named by the user is configuration
    ("<model type='virtio'/>", "<target dev='tap-web'/><model type='virtio'/>",
     [("interfaces", "interface 52:54:00:ab:cd:ef", "changed")]),

    ("<memory unit='KiB'>4194304</memory>", "<memory unit='KiB'>8388608</memory>",
     [("memory", "memory", "changed")]),
    ("<currentMemory unit='KiB'>2097152</currentMemory>", "",
     [("memory", "currentMemory", "removed")]),
    ("<vcpu placement='static' current='2'>4</vcpu>",
     "<vcpu placement='static' current='4'>4</vcpu>", [("vcpus", "vcpu", "changed")]),
    ("<os>", "<cputune><shares>2048</shares></cputune><os>", [("vcpus", "cputune", "added")]),
    ("/var/lib/libvirt/images/web-01.qcow2", "/var/lib/libvirt/images/web-01-v2.qcow2",
     [("disks", "disk vda", "changed")]),
    ("<target dev='vdb' bus='virtio'/>\n      <shareable/>", "<target dev='vdb' bus='virtio'/>",
     [("disks", "disk vdb", "changed")]),
    ("<emulator>/usr/bin/qemu-system-x86_64</emulator>",
     "<emulator>/usr/bin/qemu-system-x86_64</emulator><disk type='file' device='disk'>"
     "<source file='/new.img'/><target dev='vdz' bus='virtio'/></disk>",
     [("disks", "disk vdz", "added")]),
    ("<source network='prod' portgroup='web'/>", "<source network='prod' portgroup='db'/>",
     [("interfaces", "interface 52:54:00:ab:cd:ef", "changed")]),
    # a new MAC is another interface: one removed, one added
    ("52:54:00:12:34:56", "52:54:00:12:34:57",
     [("interfaces", "interface 52:54:00:12:34:56", "removed"),
      ("interfaces", "interface 52:54:00:12:34:57", "added")]),
    ("bus='0x3b' slot='0x00' function='0x1'", "bus='0x3b' slot='0x00' function='0x2'",
     [("devices", "hostdev 0000:3b:00.1", "removed"),
      ("devices", "hostdev 0000:3b:00.2", "added")]),
    # a fixed port (autoport off) is configuration
    ("port='-1' autoport='yes' websocket='-1'", "port='5999' autoport='no' websocket='-1'",
     [("devices", "graphics vnc", "changed")]),
    ("<name>web-01</name>", "<name>web-01-renamed</name>", [("other", "name", "changed")]),
    ("<boot dev='hd'/>", "<boot dev='network'/>", [("other", "os", "changed")]),
])
def test_definition_changes_are_classified(old, new, expected):
    assert _summary(PREPARE, _edit(PREPARE, old, new)) == expected


def test_a_change_carries_both_normalised_items():
    (change,) = definition_drift(PREPARE, _edit(PREPARE, ">4194304</memory>",
                                                ">8388608</memory>")).changes
    assert (change.before, change.after) == ('<memory unit="KiB">4194304</memory>',
                                             '<memory unit="KiB">8388608</memory>')


def test_the_unified_diff_shows_the_changed_lines_only():
    drift = definition_drift(PREPARE, _edit(LIVE, "<vcpu placement='static' current='2'>4",
                                            "<vcpu placement='static' current='2'>6"))
    changed = [ln for ln in drift.diff.splitlines() if ln[:1] in "+-" and ln[:3] not in
               ("---", "+++")]
    assert changed == ['-  <vcpu current="2" placement="static">4</vcpu>',
                       '+  <vcpu current="2" placement="static">6</vcpu>']
    assert drift.categories == {"vcpus"}


def test_two_disks_on_one_target_are_both_kept():
    disk = "<disk type='file'><source file='/%s'/><target dev='vda'/></disk>"
    before = "<domain><devices>%s</devices></domain>" % (disk % "a")
    after = "<domain><devices>%s%s</devices></domain>" % (disk % "a", disk % "b")
    assert _summary(before, after) == [("disks", "disk vda #2", "added")]


@pytest.mark.parametrize("xml, message", [
    ("<network><name>n</name></network>", "not a domain"),
    ("<domain>", "malformed"),
    ("<domain>" + "<a>" * 70 + "</a>" * 70 + "</domain>", "deeper"),
])
def test_bad_definitions_raise_facts_error(xml, message):
    with pytest.raises(FactsError, match=message):
        normalise_definition(xml)


def test_libxl_started_xml_has_no_drift_against_its_start_xml():
    start = fixture("xen-hvm.xml")
    started = start.replace("<domain type='xen'>", "<domain type='xen' id='5'>").replace(
        "port='-1' autoport='yes'", "port='5901' autoport='yes'").replace(
        "<model type='e1000'/>", "<target dev='vif5.0'/><model type='e1000'/>")
    assert started != start and definition_drift(start, started).changes == ()
