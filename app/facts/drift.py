"""Definition drift: what changed in a guest's definition between two boots (pure).

Both XMLs are first normalised: what libvirt fills in at run time is removed (the table in
``_RUNTIME``, from src/conf/domain_conf.c ``virDomainDefFormatInternalSetRootName`` and the
device formatters: what they print only without VIR_DOMAIN_DEF_FORMAT_INACTIVE), memory sizes
are put in KiB, attributes sorted, whitespace dropped. The normalised documents are then
compared item by item (a top-level element, or one device keyed by what names it) and as a
unified diff for people.
"""
from __future__ import annotations

import difflib
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from app.facts.devices import hostdev_facts
from app.facts.model import FactsError, memory_kib, normalise_mac, parse_xml

# libvirt names the tap/macvtap/vif devices it creates with these prefixes
# (src/conf/domain_conf.c VIR_NET_GENERATED_*_PREFIX, src/libxl/libxl_capabilities.h).
GENERATED_IFNAME_PREFIXES = ("vnet", "macvtap", "macvlan", "vif")
MEMORY_ELEMENTS = frozenset({"memory", "currentMemory", "maxMemory", "hard_limit", "soft_limit",
                             "swap_hard_limit", "min_guarantee"})
CATEGORY_BY_TAG = {
    "memory": "memory", "currentMemory": "memory", "maxMemory": "memory",
    "memoryBacking": "memory", "memtune": "memory", "numatune": "memory",
    "vcpu": "vcpus", "vcpus": "vcpus", "cputune": "vcpus", "cpu": "vcpus",
    "disk": "disks", "interface": "interfaces",
}
CATEGORIES = ("memory", "vcpus", "disks", "interfaces", "devices", "other")
MAX_DEPTH = 64          # libvirt's documents are ~8 deep; deeper is not libvirt's


@dataclass(frozen=True, slots=True)
class Change:
    """One item that differs: ``before``/``after`` are its normalised XML, None if absent."""

    category: str
    item: str
    before: str | None
    after: str | None

    @property
    def action(self) -> str:
        return "added" if self.before is None else "removed" if self.after is None else "changed"


@dataclass(frozen=True, slots=True)
class Drift:
    changes: tuple[Change, ...]
    diff: str

    @property
    def categories(self) -> frozenset[str]:
        return frozenset(c.category for c in self.changes)


def definition_drift(before_xml: str, after_xml: str) -> Drift:
    """The changes from one boot's definition to the next's (FactsError on bad XML)."""
    before, after = normalise_definition(before_xml), normalise_definition(after_xml)
    diff = difflib.unified_diff(_pretty(before), _pretty(after), "previous boot", "this boot",
                                lineterm="")
    return Drift(_changes(_items(before), _items(after)), "\n".join(diff))


def _changes(old: dict, new: dict) -> tuple[Change, ...]:
    changes = []
    for item in dict.fromkeys([*old, *new]):
        before, after = old.get(item), new.get(item)
        if _xml(before) != _xml(after):
            changes.append(Change((before or after)[0], item, _xml(before), _xml(after)))
    return tuple(changes)


def normalise_definition(xml: str) -> ET.Element:
    """The domain without what libvirt adds at run time, in a canonical form."""
    root = parse_xml(xml)
    if root.tag != "domain":
        raise FactsError("not a domain definition: <%s>" % root.tag)
    _walk(root, None, 0)
    return root


def _walk(elem: ET.Element, parent: ET.Element | None, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise FactsError("XML nested deeper than %d elements" % MAX_DEPTH)
    for child in list(elem):
        if _runtime_element(child, elem):
            elem.remove(child)
        else:
            _walk(child, elem, depth + 1)
    for rule in _RUNTIME.get(elem.tag, ()):
        rule(elem, parent)
    if elem.tag == "resource" and not len(elem) and not elem.attrib:
        parent.remove(elem)
    if elem.tag in MEMORY_ELEMENTS:
        kib = memory_kib(elem.text, elem.get("unit"))
        if kib is not None:
            elem.text, elem.attrib["unit"] = str(kib), "KiB"
    elem.text = (elem.text or "").strip() or None
    elem.tail = None
    elem.attrib = dict(sorted(elem.attrib.items()))


def _runtime_element(child: ET.Element, parent: ET.Element) -> bool:
    """Whole elements only a running guest has."""
    if child.tag in ("alias", "backingStore", "privateData"):
        return True
    if child.tag == "address":     # a device's guest address (a source's address is the device)
        return parent.tag != "source"
    if child.tag == "seclabel" and parent.tag == "domain":
        return child.get("type") == "dynamic"   # generated at start by the security driver
    if child.tag == "source" and parent.tag == "channel":
        # qemu's generated guest-agent socket (qemu.conf channel_target_dir/domain-ID-NAME/)
        return "/channel/target/domain-" in child.get("path", "")
    if child.tag == "partition" and parent.tag == "resource":
        return (child.text or "").strip() == "/machine"   # the default cgroup placement
    return False


def _drop(*names: str):
    def rule(elem: ET.Element, parent: ET.Element | None) -> None:
        for name in names:
            elem.attrib.pop(name, None)
    return rule


def _source(elem: ET.Element, parent: ET.Element | None) -> None:
    elem.attrib.pop("portid", None)
    if parent is not None and parent.tag == "interface" and parent.get("type") == "network":
        elem.attrib.pop("bridge", None)     # the network's bridge, filled in at start
    if parent is not None and parent.get("type") == "pty":
        elem.attrib.pop("path", None)       # /dev/pts/N of a pty chardev
        if not elem.attrib and not len(elem):
            parent.remove(elem)
    if parent is not None and parent.tag == "hostdev" and elem.find("vendor") is not None:
        for address in elem.findall("address"):     # bus/device found from vendor/product
            elem.remove(address)


def _target(elem: ET.Element, parent: ET.Element | None) -> None:
    if parent is not None and parent.tag == "interface" and \
            elem.get("dev", "").startswith(GENERATED_IFNAME_PREFIXES):
        elem.attrib.pop("dev", None)
    if parent is not None and parent.tag == "channel":
        elem.attrib.pop("state", None)      # guest agent connected or not


def _graphics(elem: ET.Element, parent: ET.Element | None) -> None:
    elem.attrib.pop("listen", None)         # a copy of the first <listen address>
    if elem.get("autoport") == "yes":
        for name in ("port", "tlsPort", "websocket"):
            elem.attrib.pop(name, None)
    for listen in elem.iterfind("listen"):
        if listen.get("type") == "network":
            listen.attrib.pop("address", None)  # resolved from the network at start


def _empty_target(elem: ET.Element, parent: ET.Element | None) -> None:
    for child in elem.findall("target"):
        if not child.attrib and not len(child):
            elem.remove(child)


# Per element: attributes (or children) libvirt sets at run time.
_RUNTIME = {
    "domain": (_drop("id"),),
    "source": (_drop("index"), _source),
    "target": (_target,),
    "interface": (_empty_target,),
    "graphics": (_graphics,),
    "console": (_drop("tty"),),
    "seclabel": (_drop("label", "imagelabel"),),
}


def _items(domain: ET.Element) -> dict[str, tuple[str, str]]:
    """Item name -> (category, canonical XML): each top-level element, each device by name."""
    items: dict[str, tuple[str, str]] = {}
    for child in domain:
        if child.tag == "devices":
            for device in child:
                _add(items, _device_name(device), CATEGORY_BY_TAG.get(device.tag, "devices"),
                     device)
        else:
            _add(items, child.tag, CATEGORY_BY_TAG.get(child.tag, "other"), child)
    return items


def _add(items: dict, name: str, category: str, elem: ET.Element) -> None:
    n, unique = 1, name
    while unique in items:
        n += 1
        unique = "%s #%d" % (name, n)
    items[unique] = (category, ET.tostring(elem, encoding="unicode"))


def _xml(item: tuple[str, str] | None) -> str | None:
    return None if item is None else item[1]


def _device_name(device: ET.Element) -> str:
    """A device's name across boots: what identifies it, not its position."""
    tag = device.tag
    if tag == "disk":
        target = device.find("target")
        return "disk " + (target.get("dev", "?") if target is not None else "?")
    if tag == "interface":
        mac = device.find("mac")
        return "interface " + ((normalise_mac(mac.get("address")) if mac is not None else None)
                               or "?")
    if tag == "hostdev":
        fact = next((f for f in hostdev_facts(device) if f is not None), None)
        return "hostdev " + (fact.key if fact else "?")
    names = [device.get(a) for a in ("type", "model", "index", "bus") if device.get(a)]
    return " ".join(["device " + tag] + names) if tag == "memory" else " ".join([tag] + names)


def _pretty(domain: ET.Element) -> list[str]:
    copy = ET.fromstring(ET.tostring(domain))
    ET.indent(copy)
    return ET.tostring(copy, encoding="unicode").splitlines()
