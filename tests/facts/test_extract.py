"""Facts from the project's own XML: every driver, every disk source type, interfaces,
hostdevs, graphics autoport live vs prepare, network hookData, and redaction."""
import pytest

from app.facts import FactsError, extract_facts
from hookshim.redact import MASK, redact
from tests.facts.helpers import fact, fixture, keys

WEB_01_DEVICES = [
    ("mac", "52:54:00:ab:cd:ef"), ("mac", "52:54:00:12:34:56"), ("mac", "52:54:00:65:43:21"),
    ("mac", "52:54:00:00:00:99"), ("ip", "10.0.2.15"), ("ip", "fec0::15"),
    ("mac", "52:54:00:6d:90:02"), ("hostdev", "0000:5e:10.2"),
    ("disk", "/var/lib/libvirt/images/web-01.qcow2"), ("disk", "/dev/vg0/web-01-data"),
    ("disk", "volume:ssd/web-01-scratch"), ("disk", "rbd:rbd/vm-1234-disk-0"),
    ("disk", "iscsi:iqn.2013-07.org.example:storage/1"),
    ("disk", "nbd://nbd.example.org:10809/export0"), ("disk", "nbd://unix:/run/nbd/web-01.sock/"),
    ("disk", "gluster:gv0/images/web-01.qcow2"),
    ("disk", "https://mirror.example.org:443/isos/debian-12.iso"),
    ("hostdev", "0000:3b:00.1"), ("hostdev", "usb:046d:c52b"), ("hostdev", "usb-bus:1.4"),
    ("hostdev", "usb-bus:2.3"), ("hostdev", "mdev:c2177883-f1bb-47f0-914d-32a22e3a8804"),
    ("hostdev", "scsi:scsi_host0:0:0:2"),
]


@pytest.mark.parametrize("name, expected", [
    # qemu, live (start/started): the ports libvirt allocated for autoport graphics
    ("qemu-live.xml", [("vcpus", "4"), ("memory", "4194304"), *WEB_01_DEVICES,
                       ("port", "5907"), ("port", "5707"), ("port", "5908"), ("port", "5909")]),
    # the same guest at prepare: autoport ports are still -1, so no port facts
    ("qemu-prepare.xml", [("vcpus", "4"), ("memory", "4194304"), *WEB_01_DEVICES]),
    # libxl PV: memory in GiB, a path with '..', a fixed VNC port
    ("xen-pv.xml", [("vcpus", "2"), ("memory", "2097152"), ("mac", "00:16:3e:5a:6b:7c"),
                    ("ip", "203.0.113.25"), ("disk", "/dev/vg_xen/mail-02-disk"),
                    ("disk", "/srv/xen/mail-02/spool.qcow2"), ("port", "5907")]),
    # libxl HVM, inactive form: upper-case MAC, decimal PCI address, autoport not yet known
    ("xen-hvm.xml", [("vcpus", "4"), ("memory", "8388608"), ("mac", "00:16:3e:01:02:03"),
                     ("disk", "rbd:xen/win-07-c"), ("disk", "/srv/iso/virtio-win.iso"),
                     ("hostdev", "0000:3b:00.1")]),
    # libxl PVH: memory unit 'M'
    ("xen-pvh.xml", [("vcpus", "1"), ("memory", "524288"), ("mac", "00:16:3e:aa:bb:01"),
                     ("disk", "/srv/xen/dns-01.img")]),
    ("lxc.xml", [("vcpus", "2"), ("memory", "1048576"), ("mac", "52:54:00:3c:9e:11")]),
    # bhyve: memory in GB (powers of 1000)
    ("bhyve.xml", [("vcpus", "2"), ("memory", "3906250"), ("mac", "52:54:00:b5:d0:01"),
                   ("disk", "/vm/bsd-01/disk0.img"), ("port", "5910")]),
    # network hooks: the network; a port's MAC; an SR-IOV port's VF; DHCP host entries;
    # the 2.x form
    ("network-port-created.xml", [("network", "prod"), ("mac", "52:54:00:ab:cd:ef")]),
    ("network-port-hostdev.xml", [("network", "sriov-pool"), ("mac", "52:54:00:9a:8b:7c"),
                                  ("hostdev", "0000:5e:10.4")]),
    ("network-started-dhcp.xml", [("network", "default"), ("ip", "192.168.122.11"),
                                  ("ip", "192.168.122.12"), ("ip", "2001:db8:ca2:2::3")]),
    ("network-plugged-legacy.xml", [("network", "legacy"), ("mac", "52:54:00:44:55:66")]),
])
def test_facts_of_each_fixture(name, expected):
    assert keys(fixture(name)) == expected


LIVE = fixture("qemu-live.xml")


@pytest.mark.parametrize("kind, key, attrs", [
    # type='network': the network, its portgroup, and (live) the bridge and tap device
    ("mac", "52:54:00:ab:cd:ef", {"type": "network", "network": "prod", "portgroup": "web",
                                  "bridge": "virbr1", "dev": "vnet3", "model": "virtio",
                                  "scope": "network:prod"}),
    ("mac", "52:54:00:12:34:56", {"type": "bridge", "bridge": "br-storage", "dev": "vnet4",
                                  "model": "virtio", "scope": "bridge:br-storage"}),
    ("mac", "52:54:00:65:43:21", {"type": "direct", "source_dev": "eno2", "mode": "vepa",
                                  "dev": "macvtap0", "scope": "direct:eno2"}),
    # user networking: a MAC on no segment libvirt names, so no scope (never collides)
    ("mac", "52:54:00:00:00:99", {"type": "user"}),
    ("ip", "fec0::15", {"source": "interface", "mac": "52:54:00:00:00:99", "prefix": "64"}),
    # an SR-IOV VF given to the guest as an interface is a held PCI device too
    ("hostdev", "0000:5e:10.2", {"subsys": "pci", "via": "interface", "managed": "yes"}),
    ("disk", "/var/lib/libvirt/images/web-01.qcow2",
     {"source_type": "file", "device": "disk", "target": "vda", "format": "qcow2",
      "readonly": "no", "shareable": "no", "writable": "yes"}),
    ("disk", "/dev/vg0/web-01-data",
     {"source_type": "block", "device": "disk", "target": "vdb", "format": "raw",
      "readonly": "no", "shareable": "yes", "writable": "yes"}),
    # <transient/>: writes go to an overlay, the source is not written
    ("disk", "volume:ssd/web-01-scratch",
     {"source_type": "volume", "device": "disk", "target": "vdc", "format": "raw",
      "pool": "ssd", "volume": "web-01-scratch", "readonly": "no", "shareable": "no",
      "writable": "no"}),
    ("disk", "rbd:rbd/vm-1234-disk-0",
     {"source_type": "network", "protocol": "rbd", "name": "rbd/vm-1234-disk-0",
      "hosts": "mon1.example.org:6789,mon2.example.org:6789", "device": "disk",
      "target": "vdd", "format": "raw", "readonly": "no", "shareable": "no", "writable": "yes"}),
    ("disk", "iscsi:iqn.2013-07.org.example:storage/1",
     {"source_type": "network", "protocol": "iscsi", "name": "iqn.2013-07.org.example:storage/1",
      "hosts": "san.example.org:3260", "device": "lun", "target": "sda", "format": "raw",
      "readonly": "no", "shareable": "no", "writable": "yes"}),
    # http(s) is keyed by URL (host lower-cased); the redacted query string is not a fact
    ("disk", "https://mirror.example.org:443/isos/debian-12.iso",
     {"source_type": "network", "protocol": "https", "name": "/isos/debian-12.iso",
      "hosts": "mirror.example.org:443", "device": "cdrom", "target": "sdb", "format": "raw",
      "readonly": "yes", "shareable": "no", "writable": "no"}),
    ("hostdev", "usb:046d:c52b", {"subsys": "usb", "mode": "subsystem", "managed": "no"}),
    ("hostdev", "mdev:c2177883-f1bb-47f0-914d-32a22e3a8804",
     {"subsys": "mdev", "mode": "subsystem", "model": "vfio-pci"}),
    ("port", "5907", {"graphics": "vnc", "role": "port", "autoport": "yes", "listen": "0.0.0.0"}),
    ("port", "5707", {"graphics": "vnc", "role": "websocket", "autoport": "yes",
                      "listen": "0.0.0.0"}),
    # a listen of type network: the address libvirt resolved at start
    ("port", "5909", {"graphics": "spice", "role": "tlsPort", "autoport": "yes",
                      "listen": "192.168.122.1"}),
    ("vcpus", "4", {"current": "2"}),
    ("memory", "4194304", {"current": "2097152"}),
])
def test_attributes_of_live_qemu_facts(kind, key, attrs):
    assert fact(LIVE, kind, key).attributes == attrs


@pytest.mark.parametrize("name, kind, key, attrs", [
    # a port seen by the network hook: on that network, owned by the guest named in <owner>
    ("network-port-created.xml", "mac", "52:54:00:ab:cd:ef",
     {"type": "network", "network": "prod", "scope": "network:prod", "portgroup": "web",
      "bridge": "br-prod", "owner_name": "web-01",
      "owner_uuid": "4dea22b3-1d52-d8f3-2516-782e98ab3fa0"}),
    ("network-port-hostdev.xml", "hostdev", "0000:5e:10.4",
     {"subsys": "pci", "via": "networkport", "owner_name": "db-03",
      "owner_uuid": "a1b2c3d4-e5f6-4789-8abc-def012345678"}),
    ("network-started-dhcp.xml", "ip", "192.168.122.11",
     {"source": "dhcp-host", "network": "default", "mac": "52:54:00:3c:9e:11",
      "name": "ct-build"}),
    # IPv6 DHCP hosts are named by DUID, not MAC
    ("network-started-dhcp.xml", "ip", "2001:db8:ca2:2::3",
     {"source": "dhcp-host", "network": "default", "id": "0:3:0:1:0:16:3e:11:22:33",
      "name": "web-01"}),
    ("network-plugged-legacy.xml", "mac", "52:54:00:44:55:66",
     {"type": "network", "network": "legacy", "scope": "network:legacy", "dev": "vnet0",
      "owner_name": "old-01", "owner_uuid": "00112233-4455-4677-8899-aabbccddeeff"}),
    ("xen-pv.xml", "port", "5907",
     {"graphics": "vnc", "role": "port", "autoport": "no", "listen": "127.0.0.1"}),
    ("xen-hvm.xml", "disk", "/srv/iso/virtio-win.iso",
     {"source_type": "file", "device": "cdrom", "target": "hdc", "format": "raw",
      "readonly": "yes", "shareable": "no", "writable": "no"}),
])
def test_attributes_of_other_facts(name, kind, key, attrs):
    assert fact(fixture(name), kind, key).attributes == attrs


def _domain(devices: str) -> str:
    return "<domain type='kvm'><name>t</name><devices>%s</devices></domain>" % devices


@pytest.mark.parametrize("devices, expected", [
    # a CD-ROM is read-only even when the XML does not say so
    ("<disk type='file' device='cdrom'><source file='/i.iso'/></disk>", ("/i.iso", "no")),
    ("<disk type='dir' device='disk'><source dir='/srv/fat/'/></disk>", ("/srv/fat", "yes")),
    # no type attribute: a file
    ("<disk device='disk'><source file='/a.img'/></disk>", ("/a.img", "yes")),
    ("<disk type='network'><source protocol='nbd'><host name='n' port='10809'/></source>"
     "</disk>", ("nbd://n:10809/", "yes")),
    # an IPv6 server is bracketed, as in a URL
    ("<disk type='network'><source protocol='nbd' name='e'><host name='::1' port='6000'/>"
     "</source></disk>", ("nbd://[::1]:6000/e", "yes")),
    ("<disk type='network'><source protocol='http' name='/x.iso'><host name='web'/></source>"
     "<readonly/></disk>", ("http://web/x.iso", "no")),
    ("<disk type='nvme' device='disk'><source type='pci' managed='yes' namespace='2'>"
     "<address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></source></disk>",
     ("nvme:0000:01:00.0/2", "yes")),
    ("<disk type='vhostuser' device='disk'><source type='unix' path='/run/vhost.sock'/></disk>",
     ("vhostuser:/run/vhost.sock", "yes")),
])
def test_disk_source_keys(devices, expected):
    (found,) = [f for f in extract_facts(_domain(devices)) if f.kind == "disk"]
    assert (found.key, found.get("writable")) == expected


@pytest.mark.parametrize("devices", [
    "<disk type='file' device='cdrom'><target dev='hdc'/><readonly/></disk>",   # no media
    "<disk type='volume'><source pool='p'/></disk>",                           # no volume
    "<disk type='network'><source name='x'/></disk>",                          # no protocol
    "<disk type='network'><source protocol='rbd'/></disk>",                    # no name
    "<hostdev mode='subsystem' type='pci'><source/></hostdev>",                # no address
    "<hostdev mode='subsystem' type='usb'><source><vendor id='zz'/>"
    "<product id='1'/></source></hostdev>",                                    # bad vendor id
    "<interface type='network'><source network='n'/></interface>",             # no MAC
    "<graphics type='vnc' port='-1' autoport='yes'/>",                         # not yet known
    "<graphics type='sdl'/>",                                                   # no port
])
def test_devices_without_an_identity_give_no_fact(devices):
    assert keys(_domain(devices)) == []


def test_hostdev_capabilities_mode_is_keyed_by_its_host_path():
    xml = _domain("<hostdev mode='capabilities' type='storage'><source><block>/dev/sdf1</block>"
                  "</source></hostdev>")
    assert keys(xml) == [("hostdev", "/dev/sdf1")]


def test_iscsi_scsi_hostdev_is_keyed_by_its_iqn():
    xml = _domain("<hostdev mode='subsystem' type='scsi'><source protocol='iscsi' "
                  "name='iqn.2014-08.com.example:iscsi/1'><host name='san'/></source></hostdev>")
    assert keys(xml) == [("hostdev", "iscsi:iqn.2014-08.com.example:iscsi/1")]


def test_a_fact_repeated_in_one_xml_is_given_once():
    disk = "<disk type='file'><source file='/a.img'/><target dev='vda'/></disk>"
    assert keys(_domain(disk + disk)) == [("disk", "/a.img")]


def test_prepare_and_live_xml_share_every_key_but_the_allocated_ports():
    live, prepare = keys(LIVE), keys(fixture("qemu-prepare.xml"))
    assert [k for k in live if k[0] != "port"] == prepare


# Redaction rules (hookshim config redact_extra) and what they must take out of the facts.
@pytest.mark.parametrize("rules, gone", [
    (["mac@address"], [("mac", "52:54:00:ab:cd:ef"), ("mac", "52:54:00:12:34:56")]),
    (["source@file"], [("disk", "/var/lib/libvirt/images/web-01.qcow2")]),
    (["source@name"], [("disk", "rbd:rbd/vm-1234-disk-0"), ("disk", "gluster:gv0/images/"
                                                                    "web-01.qcow2")]),
    (["host@name"], [("disk", "rbd:rbd/vm-1234-disk-0"),
                     ("disk", "nbd://nbd.example.org:10809/export0")]),
    (["ip@address"], [("ip", "10.0.2.15")]),
    (["interface"], [("mac", "52:54:00:ab:cd:ef"), ("ip", "10.0.2.15")]),
    (["devices"], [("disk", "/dev/vg0/web-01-data"), ("port", "5907")]),
    (["@address"], [("ip", "fec0::15")]),
])
def test_redacted_values_never_become_facts(rules, gone):
    redacted, count = redact(LIVE, rules)
    assert count > 0
    facts = extract_facts(redacted)
    found = {(f.kind, f.key) for f in facts}
    assert not found & set(gone)
    assert not any(MASK in f.key or any(MASK in v for _, v in f.attrs) for f in facts)


def test_a_redacted_attribute_leaves_the_fact_without_it():
    redacted, _ = redact(LIVE, ["source@network"])
    mac = fact(redacted, "mac", "52:54:00:ab:cd:ef")
    assert mac.get("network") is None and mac.get("scope") is None


@pytest.mark.parametrize("xml, message", [
    ("<domain type='kvm'><devices><disk>", "malformed"),
    ("<capabilities/>", "not a domain, network or hookData"),
    ("<hookData><networkport/></hookData>", "without <network>"),
    ("<!DOCTYPE domain [<!ENTITY x SYSTEM 'file:///etc/shadow'>]><domain>&x;</domain>",
     "DOCTYPE"),
])
def test_bad_xml_raises_facts_error(xml, message):
    with pytest.raises(FactsError, match=message):
        extract_facts(xml)


def test_a_bare_network_definition_gives_its_dhcp_hosts():
    xml = ("<network><name>n</name><ip address='10.1.0.1' prefix='24'><dhcp>"
           "<host mac='52:54:00:00:00:01' ip='10.1.0.5'/></dhcp></ip></network>")
    assert keys(xml) == [("network", "n"), ("ip", "10.1.0.5")]


def test_libxl_autoport_is_known_only_from_the_started_xml():
    """libxl formats the start XML with domain id -1, i.e. as inactive: port='-1'. The started
    XML (id set) carries the port libxlMakeVfb allocated (docs/attribution.md)."""
    start = fixture("xen-hvm.xml")
    started = start.replace("<domain type='xen'>", "<domain type='xen' id='5'>").replace(
        "port='-1' autoport='yes'", "port='5901' autoport='yes'")
    assert [k for k in keys(start) if k[0] == "port"] == []
    assert [k for k in keys(started) if k[0] == "port"] == [("port", "5901")]


@pytest.mark.parametrize("forward, segment", [
    ("<forward mode='nat'/>", ("nat", "host-local")),
    ("<forward/>", ("nat", "host-local")),                 # libvirt's default mode: NAT
    ("<forward mode='route'/>", ("route", "host-local")),
    ("<forward mode='open'/>", ("open", "host-local")),
    ("", ("isolated", "host-local")),                      # no <forward>: isolated
    ("<forward mode='bridge'/>", ("bridge", "shared")),
    ("<forward mode='passthrough'><interface dev='eth2'/></forward>", ("passthrough", "shared")),
    ("<forward mode='private'/>", ("private", "shared")),
    ("<forward mode='vepa'/>", ("vepa", "shared")),
    ("<forward mode='hostdev' managed='yes'/>", ("hostdev", "shared")),
])
def test_a_network_says_whether_its_segment_is_host_local(forward, segment):
    xml = ("<hookData><network><name>n1</name><uuid>c2a8b5e1-0f3d-4e7a-9b6c-5d4e3f2a1b0c"
           "</uuid>%s<bridge name='virbr7'/></network></hookData>" % forward)
    found = fact(xml, "network", "n1")
    assert (found.get("forward"), found.get("segment")) == segment
    assert found.get("bridge") == "virbr7"
