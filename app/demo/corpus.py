"""Guest XML for the simulated fleet: real libvirt test XML when $HOOKAUDIT_CORPUS names a folder
of it, else a small built-in template generator (the product needs nothing outside its clone).

Everything here is pure given its inputs: the corpus is read once into ``Template`` records and
``personalize`` rewrites one template into one guest's XML.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

DRIVERS = ("libxl", "qemu")


@dataclass(frozen=True)
class Template:
    """One domain XML a guest can be made from."""

    ref: str      # corpus-relative path, or "builtin:<kind>"
    driver: str   # libxl | qemu
    xml: str

    @property
    def has_hostdev(self) -> bool:
        return "<hostdev" in self.xml


def corpus_dir() -> Path | None:
    """$HOOKAUDIT_CORPUS (libxl/ and qemu/ folders of domain XML), or None: the built-ins."""
    env = os.environ.get("HOOKAUDIT_CORPUS")
    return Path(env) if env else None


def load_templates(path: Path | None = None) -> list[Template]:
    """Domain templates from the corpus (libxl/ and qemu/ folders); built-ins when absent."""
    path = corpus_dir() if path is None else path
    found = []
    for driver in DRIVERS if path is not None else ():
        for file in sorted((path / driver).rglob("*.xml")) if (path / driver).is_dir() else ():
            text = file.read_text(encoding="utf-8")
            if _usable(text):
                found.append(Template(str(file.relative_to(path)), driver, text))
    drivers = {t.driver for t in found}
    return found if drivers == set(DRIVERS) else builtin_templates()


def _usable(text: str) -> bool:
    # A guest needs a name to rename and a disk to boot from; the corpus also has network XML.
    return text.lstrip().startswith("<domain") and "<name>" in text and "<disk" in text


# -- personalising one template into one guest -------------------------------------------------

_NAME = re.compile(r"<name>[^<]*</name>")
_UUID = re.compile(r"<uuid>[^<]*</uuid>")
# A disk's backing path: file disks and block (LVM) disks; cdroms and network disks are left as is.
_DISK_SOURCE = re.compile(
    r"(<disk\b[^>]*device=['\"]disk['\"][^>]*>(?:(?!</disk>).)*?<source\s+(?:file|dev)=)(['\"])([^'\"]*)\2",
    re.DOTALL)
# An interface's MAC: guests made from one template must not share it (the facts pass would
# report every pair as a duplicate MAC, docs/attribution.md).
_MAC = re.compile(r"(<mac\s+address=)(['\"])([0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5})\2")
_PASSWD = re.compile(r"\s+passwd=(['\"])[^'\"]*\1")


def personalize(template: Template, name: str, uuid: str) -> str:
    """The template with its own ``name``, ``uuid`` and disk images named after the guest.

    The result is the *secure* form (graphics passwords kept): libvirt feeds that to the
    ``migrate`` filter only; ``insecure`` gives what every other op sees.
    """
    xml = _NAME.sub(f"<name>{name}</name>", template.xml, count=1)
    if _UUID.search(xml):
        xml = _UUID.sub(f"<uuid>{uuid}</uuid>", xml, count=1)
    else:
        xml = xml.replace(f"<name>{name}</name>", f"<name>{name}</name>\n  <uuid>{uuid}</uuid>", 1)
    counter = iter(range(1000))

    def disk(m: re.Match) -> str:
        n = next(counter)
        suffix = "" if n == 0 else f"-{n}"
        folder, base = os.path.split(m.group(3))
        ext = os.path.splitext(base)[1]
        return f"{m.group(1)}{m.group(2)}{folder}/{name}{suffix}{ext}{m.group(2)}"

    return personal_macs(_DISK_SOURCE.sub(disk, xml), uuid)


def personal_macs(xml: str, uuid: str) -> str:
    """Every ``<mac address>`` keeps its vendor prefix and gets the guest's own last three
    octets (from a digest of its UUID; the n-th interface adds n)."""
    h = hashlib.sha256(uuid.encode()).hexdigest()
    counter = iter(range(1000))

    def mac(m: re.Match) -> str:
        n = next(counter)
        tail = "%s:%s:%02x" % (h[0:2], h[2:4], (int(h[4:6], 16) + n) % 256)
        return f"{m.group(1)}{m.group(2)}{m.group(3)[:8]}:{tail}{m.group(2)}"

    return _MAC.sub(mac, xml)


# -- edits for the demo's scenes (an operator redefining a guest: `virsh edit`) ---------------

_INTERFACE = re.compile(r"<interface\b.*?</interface>", re.DOTALL)
_SEGMENT = re.compile(r"<source\s+(?:network|bridge)=")
_MEMORY = re.compile(r"(<(memory|currentMemory)\b[^>]*>)(\d+)(</\2>)")


def first_interface(xml: str) -> str | None:
    """The first ``<interface>`` element, when it has a MAC on a named network or bridge
    (what a duplicate-MAC conflict needs: docs/attribution.md)."""
    m = _INTERFACE.search(xml)
    if m and _MAC.search(m.group(0)) and _SEGMENT.search(m.group(0)):
        return m.group(0)
    return None


def first_mac(xml: str) -> str | None:
    iface = first_interface(xml)
    m = _MAC.search(iface) if iface else None
    return m.group(3).lower() if m else None


def with_interface(xml: str, iface: str) -> str:
    """``xml`` with its first ``<interface>`` replaced by ``iface``."""
    return _INTERFACE.sub(lambda _m: iface, xml, count=1)


def with_mac(xml: str, mac: str) -> str:
    """``xml`` with the first interface's MAC set to ``mac``."""
    iface = first_interface(xml)
    return with_interface(xml, _MAC.sub(lambda m: f"{m.group(1)}{m.group(2)}{mac}{m.group(2)}",
                                         iface, count=1))


def with_memory(xml: str, factor: int) -> str:
    """``<memory>`` and ``<currentMemory>`` multiplied by ``factor``."""
    return _MEMORY.sub(lambda m: f"{m.group(1)}{int(m.group(3)) * factor}{m.group(4)}", xml)


def describe(xml: str, text: str) -> str:
    """Give the guest a ``<description>`` (after its uuid) unless it has one."""
    if "<description>" in xml:
        return xml
    m = _UUID.search(xml)
    return f"{xml[:m.end()]}\n  <description>{text}</description>{xml[m.end():]}"


def insecure(xml: str) -> str:
    """The XML as libvirt formats it for every op but migrate: without graphics passwords."""
    return _PASSWD.sub("", xml)


def disk_paths(xml: str) -> list[str]:
    """Backing paths of the guest's disks (what a migrate rewrite moves)."""
    return [m.group(3) for m in _DISK_SOURCE.finditer(xml)]


# -- built-in fallback --------------------------------------------------------------------------

_XEN = """<domain type='xen'>
  <name>{name}</name>
  <uuid>00000000-0000-0000-0000-000000000000</uuid>
  <memory unit='KiB'>{mem}</memory>
  <currentMemory unit='KiB'>{mem}</currentMemory>
  <vcpu>{vcpu}</vcpu>
  {os}
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='/var/lib/xen/images/{name}.img'/>
      <target dev='xvda' bus='xen'/>
    </disk>
    <interface type='bridge'>
      <mac address='00:16:3e:{mac}'/>
      <source bridge='xenbr0'/>
      <script path='vif-bridge'/>
    </interface>
    <graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1' passwd='{passwd}'/>{extra}
  </devices>
</domain>
"""
_XEN_OS = {
    "pv": "<bootloader>pygrub</bootloader>\n  <os>\n    <type arch='x86_64' machine='xenpv'>linux</type>\n  </os>",
    "hvm": "<os>\n    <type arch='x86_64' machine='xenfv'>hvm</type>\n    <loader>/usr/lib/xen/boot/hvmloader</loader>\n    <boot dev='hd'/>\n  </os>",
}
_KVM = """<domain type='kvm'>
  <name>{name}</name>
  <uuid>00000000-0000-0000-0000-000000000000</uuid>
  <memory unit='KiB'>{mem}</memory>
  <currentMemory unit='KiB'>{mem}</currentMemory>
  <vcpu placement='static'>{vcpu}</vcpu>
  <os>
    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
    <boot dev='hd'/>
  </os>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/libvirt/images/{name}.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:{mac}'/>
      <source network='default'/>
      <model type='virtio'/>
    </interface>
    <graphics type='vnc' port='-1' autoport='yes' passwd='{passwd}'/>{extra}
  </devices>
</domain>
"""
_HOSTDEV = """
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <source>
        <address domain='0x0000' bus='0x06' slot='0x12' function='0x5'/>
      </source>
    </hostdev>"""


def builtin_templates() -> list[Template]:
    """A handful of plausible Xen (PV, HVM) and KVM domains, with and without PCI passthrough."""
    out = []
    for i, (driver, kind, hostdev) in enumerate([
        ("libxl", "pv", False), ("libxl", "hvm", False), ("libxl", "hvm", True),
        ("qemu", "q35", False), ("qemu", "q35-small", False), ("qemu", "q35", True),
    ]):
        fields = {"name": f"template-{i}", "mem": (1 + i % 4) * 1048576, "vcpu": 1 + i % 4,
                      "mac": f"{i:02x}:1e:{i * 7 % 256:02x}", "passwd": f"vnc{i}secret",
                      "extra": _HOSTDEV if hostdev else ""}
        if driver == "libxl":
            xml = _XEN.format(os=_XEN_OS[kind], **fields)
        else:
            xml = _KVM.format(**fields)
        out.append(Template(f"builtin:{driver}-{kind}{'-hostdev' if hostdev else ''}", driver, xml))
    return out
