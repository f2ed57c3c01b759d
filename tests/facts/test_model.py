"""The key normalisers lookups share, the memory units, and the safe parse."""
import pytest

from app.facts.model import (FactsError, make_fact, memory_kib, normalise_ip, normalise_mac,
                             normalise_path, normalise_pci, parse_xml, pci_address)
from hookshim.redact import MASK


@pytest.mark.parametrize("text, expected", [
    ("52:54:00:AB:CD:EF", "52:54:00:ab:cd:ef"),     # libvirt prints lower case; lookups may not
    ("52-54-00-ab-cd-ef", "52:54:00:ab:cd:ef"),     # virMacAddrParse accepts '-' too
    ("52:54:0:ab:cd:ef", "52:54:00:ab:cd:ef"),      # and one-digit octets
    (" 52:54:00:ab:cd:ef\n", "52:54:00:ab:cd:ef"),  # surrounding whitespace
    ("52:54:00:ab:cd", None),                       # five octets
    ("52:54:00:ab:cd:eg", None),                    # not hex
    ("525400abcdef", None),                         # no separators
    ("52:54:00:ab:cd:eff", None),                   # three-digit octet
    (MASK, None),                                   # redacted
    ("", None),
])
def test_normalise_mac(text, expected):
    assert normalise_mac(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("0000:3B:00.1", "0000:3b:00.1"),
    ("3b:00.1", "0000:3b:00.1"),                    # lspci's short form: domain 0
    ("10000:3b:00.1", "10000:3b:00.1"),             # VMD domains are wider than four digits
    ("3b:00", None),                                # no function
    ("zz:00.1", None),
    ("", None),
])
def test_normalise_pci(text, expected):
    assert normalise_pci(text) == expected


@pytest.mark.parametrize("domain, bus, slot, function, expected", [
    ("0x0000", "0x3b", "0x00", "0x1", "0000:3b:00.1"),   # as libvirt prints it
    ("0", "59", "0", "1", "0000:3b:00.1"),               # decimal, as a user may write it
    (None, "0x3b", "0x00", None, "0000:3b:00.0"),        # domain and function default to 0
    ("0", "073", "0", "1", "0000:3b:00.1"),              # strtoul base 0: leading 0 is octal
    ("0", None, "0", "1", None),                         # no bus
    ("0", "0x3b", MASK, "1", None),                      # redacted slot
    ("0", "bus", "0", "1", None),
])
def test_pci_address_from_xml_attributes(domain, bus, slot, function, expected):
    assert pci_address(domain, bus, slot, function) == expected


@pytest.mark.parametrize("text, expected", [
    ("/var/lib/libvirt/images/a.qcow2", "/var/lib/libvirt/images/a.qcow2"),
    ("//var/lib/../lib/./images//a.qcow2", "/var/lib/images/a.qcow2"),
    ("/dev/vg0/lv/", "/dev/vg0/lv"),
    ("relative/disk.img", "relative/disk.img"),      # kept, never made absolute
    (MASK, None),
    ("/srv/%s/x" % MASK, None),                      # partly redacted is redacted
])
def test_normalise_path(text, expected):
    assert normalise_path(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("192.168.122.12", "192.168.122.12"),
    ("2001:DB8:CA2:2:0:0:0:3", "2001:db8:ca2:2::3"),
    ("fe80::1%eth0", "fe80::1%eth0"),
    ("192.168.122.300", None),
    ("host.example.org", None),
])
def test_normalise_ip(text, expected):
    assert normalise_ip(text) == expected


@pytest.mark.parametrize("value, unit, kib", [
    ("4194304", "KiB", 4194304),
    ("4194304", None, 4194304),          # no unit: KiB
    ("2", "GiB", 2097152),
    ("2", "G", 2097152),                  # one letter: binary
    ("1536", "MiB", 1572864),
    ("4", "GB", 3906250),                 # 'GB' is 10^9 bytes
    ("1", "KB", 1),                       # 1000 bytes rounds up to 1 KiB, as libvirt does
    ("1025", "bytes", 2),
    ("1", "TiB", 1073741824),
    ("1", "parsecs", None),
    ("lots", "KiB", None),
    (MASK, "KiB", None),
])
def test_memory_kib(value, unit, kib):
    assert memory_kib(value, unit) == kib


def test_make_fact_leaves_out_redacted_and_empty_attributes():
    fact = make_fact("mac", "52:54:00:ab:cd:ef", network=MASK, bridge="br0", dev="", mode=None)
    assert fact.attrs == (("bridge", "br0"),)


@pytest.mark.parametrize("key", [None, "", MASK, "rbd:pool/" + MASK])
def test_make_fact_without_a_usable_key_is_no_fact(key):
    assert make_fact("disk", key, device="disk") is None


def test_facts_are_hashable_and_equal_by_value():
    a = make_fact("disk", "/a", device="disk", readonly="no")
    b = make_fact("disk", "/a", readonly="no", device="disk")
    assert a == b and len({a, b}) == 1 and a.get("device") == "disk"


@pytest.mark.parametrize("text, message", [
    (None, "no XML"),
    ("   ", "no XML"),
    ("<domain><name>x</name>", "malformed"),                  # truncated by the stdin cap
    ("<domain>&undefined;</domain>", "malformed"),            # entities are not resolved
    ("<?xml version='1.0'?><!DOCTYPE d [<!ENTITY a 'aaaa'>]><d>&a;</d>", "DOCTYPE"),
    ("<!DOCTYPE d SYSTEM 'file:///etc/passwd'><d/>", "DOCTYPE"),   # no external references
    ("<d/>" + " " * (4 * 1024 * 1024), "larger"),
])
def test_parse_refuses_with_a_clear_error(text, message):
    with pytest.raises(FactsError, match=message):
        parse_xml(text)


def test_parse_accepts_bytes():
    assert parse_xml(b"<domain type='kvm'/>").get("type") == "kvm"
