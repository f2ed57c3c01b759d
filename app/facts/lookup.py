"""From what a user types to the fact keys it may mean (pure): the attribution API's
parameters and the dashboard search box both go through here, so a lookup matches exactly the
keys extract.py stores."""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlencode

from app.facts.devices import NAMED_PROTOCOLS
from app.facts.model import normalise_ip, normalise_mac, normalise_path, normalise_pci

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")
# Disk names typed without a scheme may be any of these (``rbd/vm-1234-disk-0`` is an RBD
# pool/image, a Gluster volume/path or a libvirt pool/volume alike).
SCHEMELESS_DISK_PREFIXES = ("rbd:", "gluster:", "volume:", "iscsi:", "sheepdog:", "vxhs:")


def disk_keys(text: str) -> tuple[str, ...]:
    """The disk keys ``text`` may mean: a path, a key with its scheme, or a bare name."""
    text = text.strip()
    if not text:
        return ()
    if text.startswith("/"):
        return (normalise_path(text),)
    scheme, sep, rest = text.partition(":")
    if sep and (scheme.lower() in NAMED_PROTOCOLS or scheme.lower() in
                ("volume", "nvme", "vhostuser")):
        return (scheme.lower() + ":" + rest,)
    if "://" in text:
        return (_url_key(text),)
    return tuple(prefix + text for prefix in SCHEMELESS_DISK_PREFIXES)


def _url_key(text: str) -> str:
    """``HTTPS://Host:443/x`` -> ``https://host:443/x`` (scheme and host are case-blind)."""
    scheme, _, rest = text.partition("://")
    host, slash, path = rest.partition("/")
    return "%s://%s/%s" % (scheme.lower(), host.lower(), path if slash else "")


def hostdev_keys(text: str) -> tuple[str, ...]:
    text = text.strip()
    pci = normalise_pci(text)
    if pci:
        return (pci,)
    if UUID_RE.match(text):
        return ("mdev:" + _uuid(text),)
    lowered = text.lower()
    return (lowered,) if lowered.startswith(("usb:", "usb-bus:", "mdev:", "scsi:", "iscsi:")) \
        else ()


def lookup_keys(kind: str, text: str) -> tuple[str, ...]:
    """The keys of ``kind`` a lookup for ``text`` matches (empty: ``text`` cannot be one)."""
    if kind == "mac":
        found = normalise_mac(text)
    elif kind == "ip":
        found = normalise_ip(text)
    elif kind == "port":
        found = str(int(text)) if text.strip().isdecimal() and 0 < int(text) < 65536 else None
    elif kind == "disk":
        return disk_keys(text)
    elif kind == "hostdev":
        return hostdev_keys(text)
    else:
        raise ValueError("no lookup for fact kind %r" % kind)
    return (found,) if found else ()


def recognise(text: str) -> tuple[str, tuple[str, ...]] | None:
    """What the search box was given: ("mac" | "hostdev" | "disk" | "ip" | "guest", keys),
    or None for anything else (a guest name search)."""
    text = text.strip()
    if UUID_RE.match(text):
        return "guest", (_uuid(text),)
    for kind in ("mac", "ip"):
        keys = lookup_keys(kind, text)
        if keys:
            return kind, keys
    if normalise_pci(text) and ":" in text and "." in text:
        return "hostdev", hostdev_keys(text)
    if text.startswith("/") or "://" in text or \
            text.partition(":")[0].lower() in (*NAMED_PROTOCOLS, "volume"):
        return "disk", disk_keys(text)
    return None


def _uuid(text: str) -> str:
    h = text.replace("-", "").lower()
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


# A disk named like the issue's ``rbd/vm-1234-disk-0``: pool/image (or volume/path), no spaces.
POOL_IMAGE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9._@/-]+$")


@dataclass(frozen=True, slots=True)
class Classified:
    """What a search-box string is: ``kind`` (mac, ip, hostdev, disk, guest), the fact keys it
    matches, and ``path``: the dashboard page that answers it (the attribution page, or the
    guest page for a UUID)."""

    kind: str
    value: str
    keys: tuple[str, ...]

    @property
    def path(self) -> str:
        if self.kind == "guest":
            return "/guests/" + self.keys[0]
        return "/attribution?" + urlencode({self.kind: self.value})


def classify(q: str) -> Classified | None:
    """The header search's router (pure): a UUID opens the guest; a MAC, IP, PCI address,
    host path, disk URL, ``rbd:``/``volume:``… name or a bare ``pool/image`` opens who held
    it; anything else (None) is left to the ordinary name search. Recognised strings are
    the ones ``lookup_keys`` normalises (``52-54-00-AB-CD-EF``, ``3b:00.1`` ...)."""
    text = (q or "").strip()
    if not text or len(text) > 1024 or any(c.isspace() for c in text):
        return None
    found = recognise(text)
    if found is None and POOL_IMAGE_RE.match(text):
        found = "disk", disk_keys(text)
    if found is None or not found[1]:
        return None
    return Classified(found[0], text, found[1])
