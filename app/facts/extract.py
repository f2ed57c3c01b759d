"""Facts from one hook call's XML: a domain (any driver) or a network hook's ``<hookData>``.

Pure: text in, a tuple of Fact out (sizes, interfaces, disks, host devices, graphics, each
in document order; no duplicates). The kinds, keys and attributes are listed in
docs/attribution.md; the disk and host-device keys are made in devices.py.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator

from app.facts.devices import disk_fact, hostdev_facts, pci_fact
from app.facts.model import (Fact, FactsError, make_fact, memory_kib, normalise_ip,
                             normalise_mac, parse_xml, redacted)

# Interface types whose MAC lives on a segment libvirt names: the collision scope.
SCOPED_TYPES = {"network": "network", "bridge": "bridge", "direct": "dev"}


def extract_facts(xml: str | bytes | None) -> tuple[Fact, ...]:
    """Facts of a domain XML, a ``<hookData>`` (network hooks) or a bare ``<network>``."""
    root = parse_xml(xml)
    if root.tag == "domain":
        facts = domain_facts(root)
    elif root.tag == "hookData":
        facts = hookdata_facts(root)
    elif root.tag == "network":
        facts = network_facts(root)
    else:
        raise FactsError("not a domain, network or hookData document: <%s>" % root.tag)
    return tuple(dict.fromkeys(f for f in facts if f is not None))


def domain_facts(domain: ET.Element) -> Iterator[Fact | None]:
    yield from _sizes(domain)
    devices = domain.find("devices")
    if devices is None:
        return
    for iface in devices.iterfind("interface"):
        yield from interface_facts(iface)
    for disk in devices.iterfind("disk"):
        yield disk_fact(disk)
    for hostdev in devices.iterfind("hostdev"):
        yield from hostdev_facts(hostdev)
    for graphics in devices.iterfind("graphics"):
        yield from graphics_facts(graphics)


def _sizes(domain: ET.Element) -> Iterator[Fact | None]:
    vcpu = domain.find("vcpu")
    if vcpu is not None and (vcpu.text or "").strip().isdecimal():
        yield make_fact("vcpus", str(int(vcpu.text)), current=vcpu.get("current"))
    memory = _kib(domain.find("memory"))
    if memory is not None:
        yield make_fact("memory", str(memory), current=_text(_kib(domain.find("currentMemory"))),
                        maximum=_text(_kib(domain.find("maxMemory"))))


def _kib(elem: ET.Element | None) -> int | None:
    return None if elem is None else memory_kib(elem.text, elem.get("unit"))


def _text(value: int | None) -> str | None:
    return None if value is None else str(value)


def interface_facts(iface: ET.Element, owner: dict | None = None) -> Iterator[Fact | None]:
    """The MAC (with where it is plugged), IPs and, for type='hostdev', the PCI device."""
    kind = iface.get("type", "")
    source = _attrs(iface.find("source"))
    mac = normalise_mac(_attrs(iface.find("mac")).get("address"))
    segment = source.get(SCOPED_TYPES.get(kind, ""))
    scope = "%s:%s" % (kind, segment) if segment and not redacted(segment) else None
    yield make_fact("mac", mac, type=kind, scope=scope, network=source.get("network"),
                    bridge=source.get("bridge"), portgroup=source.get("portgroup"),
                    dev=_attrs(iface.find("target")).get("dev"), source_dev=source.get("dev"),
                    mode=source.get("mode"), model=_attrs(iface.find("model")).get("type"),
                    **(owner or {}))
    for ip in iface.iterfind("ip"):
        yield make_fact("ip", normalise_ip(ip.get("address")), source="interface", mac=mac,
                        prefix=ip.get("prefix"), **(owner or {}))
    if kind == "hostdev":
        yield pci_fact(iface.find("source/address"), subsys="pci", via="interface",
                       managed=iface.get("managed"))


def graphics_facts(graphics: ET.Element) -> Iterator[Fact | None]:
    """Listening ports. With autoport='yes' only a live XML (start, started and later) holds
    the port libvirt allocated; the prepare XML says port='-1': unknown, no fact."""
    listen = graphics.get("listen") or _attrs(graphics.find("listen")).get("address")
    for role in ("port", "tlsPort", "websocket"):
        port = (graphics.get(role) or "").strip()
        if port.isdecimal() and int(port) > 0:
            yield make_fact("port", str(int(port)), graphics=graphics.get("type"), role=role,
                            autoport=graphics.get("autoport"), listen=listen)


def hookdata_facts(hook_data: ET.Element) -> Iterator[Fact | None]:
    """``<hookData><network/>[<networkport/>]</hookData>`` (port-created/deleted), or the
    pre-5.x ``plugged``/``unplugged`` form with the guest's ``<interface>`` and ``<domain>``."""
    network = hook_data.find("network")
    if network is None:
        raise FactsError("hookData without <network>")
    yield from network_facts(network)
    name = (network.findtext("name") or "").strip()
    port = hook_data.find("networkport")
    if port is not None:
        yield from networkport_facts(port, name)
    iface = hook_data.find("interface")
    if iface is not None:
        domain = hook_data.find("domain")
        owner = _owner(domain.findtext("uuid"), domain.findtext("name")) if domain is not None \
            else {}
        yield from _scoped(interface_facts(iface, owner), name)


def _scoped(facts: Iterable[Fact | None], network: str) -> Iterator[Fact | None]:
    """Interface MACs seen by a network hook are on that network, whatever type says."""
    for fact in facts:
        if fact is not None and fact.kind == "mac" and network and not redacted(network):
            attrs = dict(fact.attrs, scope="network:" + network, network=network)
            fact = make_fact("mac", fact.key, **attrs)
        yield fact


def networkport_facts(port: ET.Element, network: str) -> Iterator[Fact | None]:
    """One guest's port on a network: its MAC, and its PCI device for hostdev-pci plugs."""
    owner = _owner(port.findtext("owner/uuid"), port.findtext("owner/name"))
    plug = _attrs(port.find("plug"))
    scope = "network:" + network if network and not redacted(network) else None
    yield make_fact("mac", normalise_mac(_attrs(port.find("mac")).get("address")), type="network",
                    scope=scope, network=network, portgroup=(port.findtext("group") or None),
                    bridge=plug.get("bridge"), source_dev=plug.get("dev"),
                    mode=plug.get("mode"), **owner)
    if plug.get("type") == "hostdev-pci":
        yield pci_fact(port.find("plug/address"), subsys="pci", via="networkport", **owner)


# Forward modes whose guests sit on a segment only their host has: libvirt's own bridge
# behind NAT or routing (``open``: routing without firewall rules); no <forward> at all is an
# isolated network. The others (bridge, passthrough, private, vepa, hostdev) put guests on
# the host's physical L2 segment, shared with other hosts (src/conf/network_conf.h).
HOST_LOCAL_FORWARD = frozenset({"nat", "route", "open", "isolated"})


def network_facts(network: ET.Element) -> Iterator[Fact | None]:
    """The network itself (``network`` NAME: its forward mode, bridge, and whether its
    segment is host-local or shared), and its static DHCP leases:
    ``<ip><dhcp><host mac|id name ip/>`` (IPv4 by MAC, IPv6 by id)."""
    name = (network.findtext("name") or "").strip()
    forward = network.find("forward")
    # <forward/> without a mode is NAT (virNetworkForwardType's default); none: isolated
    mode = "isolated" if forward is None else (forward.get("mode") or "nat")
    yield make_fact("network", name, forward=mode,
                    bridge=_attrs(network.find("bridge")).get("name"),
                    segment="host-local" if mode in HOST_LOCAL_FORWARD else "shared")
    for host in network.iterfind("ip/dhcp/host"):
        yield make_fact("ip", normalise_ip(host.get("ip")), source="dhcp-host", network=name,
                        mac=normalise_mac(host.get("mac")), id=host.get("id"),
                        name=host.get("name"))


def _owner(uuid: str | None, name: str | None) -> dict:
    uuid = (uuid or "").strip().lower()
    return {"owner_uuid": uuid or None, "owner_name": (name or "").strip() or None}


def _attrs(elem: ET.Element | None) -> dict:
    return {} if elem is None else elem.attrib
