"""Disk and host-device facts: the keys that name a disk source or a passed-through device.

Keys (docs/attribution.md): a file, block device or directory is its normalised path (it starts
with ``/``); every other source is ``scheme:...`` so the two never collide:
``volume:pool/vol``, ``rbd:pool/image``, ``gluster:volume/path``, ``iscsi:iqn.../lun``,
``nbd://host:port/export``, ``https://host/path``, ``nvme:0000:01:00.0/1``,
``vhostuser:/path``. Host devices: ``0000:3b:00.1`` (PCI), ``usb:046d:c52b`` (vendor:product),
``usb-bus:1.4`` (bus.device), ``mdev:<uuid>``, ``scsi:scsi_host0:0:0:2``, ``iscsi:iqn.../lun``.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

from app.facts.model import Fact, make_fact, normalise_path, pci_address, redacted, yes

# Network protocols whose source name is unique on its own (a Ceph pool/image, a Gluster
# volume/path, an iSCSI IQN/LUN); the others name a path on one server: key by URL.
NAMED_PROTOCOLS = frozenset({"rbd", "gluster", "iscsi", "sheepdog", "vxhs"})


def disk_fact(disk: ET.Element) -> Fact | None:
    """The disk's source with how it is attached, or None (no source: an empty CD-ROM)."""
    source = disk.find("source")
    if source is None:
        return None
    kind = disk.get("type", "file")
    key, where = _disk_key(kind, source)
    device = disk.get("device", "disk")
    readonly = disk.find("readonly") is not None or device == "cdrom"
    # A <transient/> disk writes to a throw-away overlay: its source is never written.
    writable = not readonly and disk.find("transient") is None
    target = disk.find("target")
    return make_fact("disk", key, source_type=kind, device=device, readonly=yes(readonly),
                     shareable=yes(disk.find("shareable") is not None), writable=yes(writable),
                     target=None if target is None else target.get("dev"),
                     format=_get(disk.find("driver"), "type"), **where)


def _disk_key(kind: str, source: ET.Element) -> tuple[str | None, dict]:
    if kind in ("file", "block", "dir"):
        return normalise_path(source.get({"block": "dev"}.get(kind, kind))), {}
    if kind == "volume":
        pool, volume = source.get("pool"), source.get("volume")
        key = "volume:%s/%s" % (pool, volume) if pool and volume else None
        return key, {"pool": pool, "volume": volume}
    if kind == "network":
        return _network_key(source)
    if kind == "nvme":
        pci = _pci(source.find("address"))
        return ("nvme:%s/%s" % (pci, source.get("namespace", "1")) if pci else None), {}
    if kind == "vhostuser":
        path = normalise_path(source.get("path"))
        return ("vhostuser:" + path if path else None), {}
    return None, {}


def _network_key(source: ET.Element) -> tuple[str | None, dict]:
    protocol = (source.get("protocol") or "").lower()
    name = (source.get("name") or "").strip()
    hosts = [_host(h) for h in source.iterfind("host")]
    where = {"protocol": protocol, "name": name, "hosts": ",".join(h for h in hosts if h)}
    if not protocol or redacted(name) or any(h is None for h in hosts):
        return None, where
    if protocol in NAMED_PROTOCOLS:
        return ("%s:%s" % (protocol, name) if name else None), where
    first = hosts[0] if hosts else ""
    return "%s://%s/%s" % (protocol, first, name.lstrip("/")), where


def _host(host: ET.Element) -> str | None:
    """``name[:port]``, ``unix:<socket>`` for a unix transport; None when redacted."""
    if host.get("transport") == "unix":
        value = "unix:" + (normalise_path(host.get("socket")) or "")
    else:
        name, port = (host.get("name") or "").lower(), host.get("port")
        if ":" in name and not name.startswith("["):
            name = "[%s]" % name            # an IPv6 address, as in a URL
        value = "%s:%s" % (name, port) if port else name
    return None if redacted(value) else value


def hostdev_facts(hostdev: ET.Element) -> Iterator[Fact | None]:
    """One fact per identity the XML gives: a USB device by vendor:product and by bus.device."""
    subsys = hostdev.get("type", "")
    source = hostdev.find("source")
    if source is None:
        return
    common = {"subsys": subsys, "mode": hostdev.get("mode"), "managed": hostdev.get("managed"),
              "model": hostdev.get("model")}
    if subsys == "pci":
        yield pci_fact(source.find("address"), **common)
    elif subsys == "usb":
        yield from _usb_facts(source, common)
    elif subsys == "mdev":
        uuid = _get(source.find("address"), "uuid")
        yield make_fact("hostdev", "mdev:" + uuid.lower() if uuid else None, **common)
    elif subsys == "scsi":
        yield _scsi_fact(source, common)
    elif hostdev.get("mode") == "capabilities":
        path = normalise_path(source.findtext("block") or source.findtext("char"))
        yield make_fact("hostdev", path, **common)


def pci_fact(address: ET.Element | None, **attrs: str | None) -> Fact | None:
    return make_fact("hostdev", _pci(address), **attrs)


def _pci(address: ET.Element | None) -> str | None:
    if address is None:
        return None
    return pci_address(address.get("domain"), address.get("bus"), address.get("slot"),
                       address.get("function"))


def _usb_facts(source: ET.Element, common: dict) -> Iterator[Fact | None]:
    vendor, product = _get(source.find("vendor"), "id"), _get(source.find("product"), "id")
    if vendor and product:
        yield make_fact("hostdev", _usb_id(vendor, product), **common)
    address = source.find("address")
    bus, device = _get(address, "bus"), _get(address, "device")
    if bus and device and not redacted(bus + device):
        try:
            yield make_fact("hostdev", "usb-bus:%d.%d" % (int(bus, 0), int(device, 0)), **common)
        except ValueError:
            return


def _usb_id(vendor: str, product: str) -> str | None:
    try:
        return "usb:%04x:%04x" % (int(vendor, 16), int(product, 16))
    except ValueError:
        return None


def _scsi_fact(source: ET.Element, common: dict) -> Fact | None:
    if source.get("protocol") == "iscsi":
        name = source.get("name")
        return make_fact("hostdev", "iscsi:" + name if name else None, **common)
    adapter, address = _get(source.find("adapter"), "name"), source.find("address")
    if not adapter or address is None:
        return None
    unit = ":".join(address.get(k, "0") for k in ("bus", "target", "unit"))
    return make_fact("hostdev", "scsi:%s:%s" % (adapter, unit), **common)


def _get(elem: ET.Element | None, name: str) -> str | None:
    return None if elem is None else elem.get(name)
