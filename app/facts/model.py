"""The fact record, the safe XML parse, and the key normalisers lookups share (pure).

A fact is one thing a guest held, as its XML says: ``kind`` (what sort of thing), ``key`` (the
normalised identity a lookup matches exactly) and ``attrs`` (sorted name/value pairs that
describe it). The shape is what a facts table stores and indexes: (kind, key) is the lookup,
the attributes ride along.

The XML comes from hosts: it is parsed only when it carries no DOCTYPE (libvirt never writes
one, and without one expat can neither expand entities nor fetch external references) and only
up to MAX_XML_CHARS.
"""
from __future__ import annotations

import ipaddress
import posixpath
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from hookshim.redact import MASK

# A real domain XML is a few KB; the shim's policy evaluator refuses more than this too
# (hookshim/policy_xml.py MAX_XML_CHARS). Bigger is not a document libvirt wrote.
MAX_XML_CHARS = 4 * 1024 * 1024

KINDS = ("mac", "disk", "hostdev", "port", "ip", "vcpus", "memory", "network")


class FactsError(ValueError):
    """The XML cannot be read for facts (malformed, too large, unsafe, or not libvirt's)."""


@dataclass(frozen=True, slots=True)
class Fact:
    """One held thing: (kind, key) is the lookup; attrs are sorted (name, value) pairs."""

    kind: str
    key: str
    attrs: tuple[tuple[str, str], ...] = ()

    def get(self, name: str, default: str | None = None) -> str | None:
        return dict(self.attrs).get(name, default)

    @property
    def attributes(self) -> dict[str, str]:
        return dict(self.attrs)


def redacted(value: str | None) -> bool:
    """True when the shim's redaction touched this value: it must never become a fact."""
    return value is not None and MASK in value


def make_fact(kind: str, key: str | None, **attrs: str | None) -> Fact | None:
    """A Fact, or None when the key is missing or redacted; empty or redacted attributes
    are left out (nothing redacted is extracted)."""
    if not key or MASK in key:
        return None
    return Fact(kind, key, tuple(sorted([(k, v) for k, v in attrs.items()
                                         if v and MASK not in v])))


def parse_xml(text: str | bytes | None) -> ET.Element:
    """Parse host-sent XML safely; FactsError on anything else."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if not text or not text.strip():
        raise FactsError("no XML")
    if len(text) > MAX_XML_CHARS:
        raise FactsError("XML larger than %d characters" % MAX_XML_CHARS)
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise FactsError("XML with a DOCTYPE or entity declaration is refused")
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        raise FactsError("malformed XML: %s" % exc) from None


def yes(flag: bool) -> str:
    return "yes" if flag else "no"


def normalise_mac(text: str | None) -> str | None:
    """``52-54-00-AB-CD-EF`` or ``52:54:0:ab:cd:ef`` -> ``52:54:00:ab:cd:ef``; None if not a MAC
    (libvirt's virMacAddrParse accepts ':' or '-' and one-digit octets)."""
    if not text or redacted(text):
        return None
    parts = text.strip().replace("-", ":").split(":")
    if len(parts) != 6 or not all(1 <= len(p) <= 2 for p in parts):
        return None
    try:
        return ":".join("%02x" % int(p, 16) for p in parts)
    except ValueError:
        return None


def _c_int(text: str) -> int:
    """An integer as libvirt reads address fields (strtoul base 0: 0x.. hex, 0.. octal)."""
    text = text.strip()
    if text[:2].lower() == "0x":
        return int(text[2:], 16)
    return int(text, 8) if len(text) > 1 and text.startswith("0") else int(text, 10)


def pci_address(domain: str | None, bus: str | None, slot: str | None,
                function: str | None) -> str | None:
    """Canonical ``dddd:bb:ss.f`` from XML attributes (domain defaults to 0), or None."""
    if bus is None or slot is None or any(redacted(v) for v in (domain, bus, slot, function)):
        return None
    try:
        return "%04x:%02x:%02x.%x" % (_c_int(domain or "0"), _c_int(bus), _c_int(slot),
                                      _c_int(function or "0"))
    except ValueError:
        return None


def normalise_pci(text: str | None) -> str | None:
    """``0000:3B:00.1`` or ``3b:00.1`` (as lspci prints it) -> ``0000:3b:00.1``; None if not."""
    if not text:
        return None
    head, dot, function = text.strip().rpartition(".")
    parts = head.split(":") if dot else []
    if len(parts) == 2:
        parts.insert(0, "0")
    if len(parts) != 3:
        return None
    try:
        domain, bus, slot, fn = (int(p, 16) for p in (*parts, function))
    except ValueError:
        return None
    return "%04x:%02x:%02x.%x" % (domain, bus, slot, fn)


def normalise_path(text: str | None) -> str | None:
    """A host path as a lookup key: ``//var/lib/../lib/x`` -> ``/var/lib/x`` (lexically only:
    the server cannot resolve a host's symlinks)."""
    if not text or redacted(text):
        return None
    path = posixpath.normpath(text.strip())
    return "/" + path.lstrip("/") if path.startswith("/") else path


def normalise_ip(text: str | None) -> str | None:
    """Canonical IP text (``2001:DB8:0::5`` -> ``2001:db8::5``), or None if not an address."""
    if not text or redacted(text):
        return None
    try:
        return ipaddress.ip_address(text.strip()).compressed
    except ValueError:
        return None


_UNIT_POWER = {"k": 1, "m": 2, "g": 3, "t": 4, "p": 5, "e": 6}


def memory_kib(value: str | None, unit: str | None) -> int | None:
    """A memory size in KiB whatever its unit, rounded up, as libvirt's virDomainParseMemory
    does with virScaleInteger (no unit = KiB; ``KB``/``MB`` are powers of 1000)."""
    if value is None or redacted(value):
        return None
    try:
        number = int(value.strip())
    except ValueError:
        return None
    unit = (unit or "KiB").strip().lower()
    if unit in ("b", "byte", "bytes"):
        scale = 1
    elif unit[:1] in _UNIT_POWER and unit[1:] in ("", "ib", "b"):
        scale = (1000 if unit[1:] == "b" else 1024) ** _UNIT_POWER[unit[0]]
    else:
        return None
    return -(-number * scale // 1024)
