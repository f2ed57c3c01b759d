"""What a user types -> the fact keys it matches, checked against what extraction stores."""
import pytest

from app.facts import extract_facts
from app.facts.lookup import classify, lookup_keys, recognise
from tests.facts.helpers import fixture

STORED = {(f.kind, f.key) for f in extract_facts(fixture("qemu-live.xml"))}


@pytest.mark.parametrize("kind, text, expected", [
    ("mac", "52-54-00-AB-CD-EF", ("52:54:00:ab:cd:ef",)),
    ("mac", "not a mac", ()),
    ("ip", "FEC0::15", ("fec0::15",)),
    ("port", " 5907 ", ("5907",)),
    ("port", "70000", ()),
    ("port", "0", ()),
    # the example: an RBD image named without its scheme
    ("disk", "rbd/vm-1234-disk-0", ("rbd:rbd/vm-1234-disk-0", "gluster:rbd/vm-1234-disk-0",
                                    "volume:rbd/vm-1234-disk-0", "iscsi:rbd/vm-1234-disk-0",
                                    "sheepdog:rbd/vm-1234-disk-0", "vxhs:rbd/vm-1234-disk-0")),
    ("disk", "RBD:rbd/vm-1234-disk-0", ("rbd:rbd/vm-1234-disk-0",)),
    ("disk", "//var/lib/libvirt/images/../images/web-01.qcow2",
     ("/var/lib/libvirt/images/web-01.qcow2",)),
    ("disk", "HTTPS://Mirror.Example.ORG:443/isos/debian-12.iso",
     ("https://mirror.example.org:443/isos/debian-12.iso",)),
    ("disk", "volume:ssd/web-01-scratch", ("volume:ssd/web-01-scratch",)),
    ("disk", "  ", ()),
    ("hostdev", "3B:00.1", ("0000:3b:00.1",)),
    ("hostdev", "C2177883-F1BB-47F0-914D-32A22E3A8804",
     ("mdev:c2177883-f1bb-47f0-914d-32a22e3a8804",)),
    ("hostdev", "USB:046D:C52B", ("usb:046d:c52b",)),
    ("hostdev", "keyboard", ()),
])
def test_lookup_keys(kind, text, expected):
    assert lookup_keys(kind, text) == expected


@pytest.mark.parametrize("kind, text", [
    ("mac", "52-54-00-AB-CD-EF"), ("ip", "FEC0:0::15"), ("port", "5909"),
    ("disk", "rbd/vm-1234-disk-0"), ("disk", "/var/lib/libvirt/images/web-01.qcow2"),
    ("disk", "https://mirror.example.org:443/isos/debian-12.iso"),
    ("disk", "nbd://nbd.example.org:10809/export0"),
    ("hostdev", "3b:00.1"), ("hostdev", "c2177883-f1bb-47f0-914d-32a22e3a8804"),
])
def test_a_lookup_finds_the_fact_extraction_stored(kind, text):
    assert {(kind, k) for k in lookup_keys(kind, text)} & STORED


def test_lookup_of_an_unknown_kind_is_an_error():
    with pytest.raises(ValueError, match="no lookup"):
        lookup_keys("vcpus", "4")


@pytest.mark.parametrize("text, expected", [
    ("52:54:00:AB:CD:EF", ("mac", ("52:54:00:ab:cd:ef",))),
    ("4DEA22B3-1D52-D8F3-2516-782E98AB3FA0", ("guest", ("4dea22b3-1d52-d8f3-2516-782e98ab3fa0",))),
    ("4dea22b31d52d8f32516782e98ab3fa0", ("guest", ("4dea22b3-1d52-d8f3-2516-782e98ab3fa0",))),
    ("0000:3b:00.1", ("hostdev", ("0000:3b:00.1",))),
    ("192.168.122.12", ("ip", ("192.168.122.12",))),
    ("/var/lib/libvirt/images/web-01.qcow2", ("disk", ("/var/lib/libvirt/images/web-01.qcow2",))),
    ("rbd:rbd/vm-1234-disk-0", ("disk", ("rbd:rbd/vm-1234-disk-0",))),
    ("web-01", None),               # a guest name: the ordinary search
    ("", None),
])
def test_the_search_box_recognises(text, expected):
    assert recognise(text) == expected


@pytest.mark.parametrize("text, kind, path", [
    ("52-54-00-AB-CD-EF", "mac", "/attribution?mac=52-54-00-AB-CD-EF"),
    ("10.0.0.12", "ip", "/attribution?ip=10.0.0.12"),
    ("0000:3b:00.1", "hostdev", "/attribution?hostdev=0000%3A3b%3A00.1"),
    ("3b:00.1", "hostdev", "/attribution?hostdev=3b%3A00.1"),
    ("/var/lib/libvirt/images/web-01.qcow2", "disk",
     "/attribution?disk=%2Fvar%2Flib%2Flibvirt%2Fimages%2Fweb-01.qcow2"),
    ("rbd/vm-1234-disk-0", "disk", "/attribution?disk=rbd%2Fvm-1234-disk-0"),   # the issue's
    ("rbd:rbd/vm-1234-disk-0", "disk", "/attribution?disk=rbd%3Arbd%2Fvm-1234-disk-0"),
    ("3F9D2C71-8E44-4B6A-A0C2-5B7E9D1F0A08", "guest",
     "/guests/3f9d2c71-8e44-4b6a-a0c2-5b7e9d1f0a08"),
])
def test_classify_routes_what_the_search_box_recognises(text, kind, path):
    found = classify(text)
    assert (found.kind, found.path) == (kind, path)


@pytest.mark.parametrize("text", ["web-01", "", "  ", "web 01", "dom0-rack7-04", "5907"])
def test_classify_leaves_names_to_the_name_search(text):
    assert classify(text) is None


@pytest.mark.parametrize("text", ["rbd/vm-1234-disk-0", "52:54:00:AB:CD:EF", "3b:00.1"])
def test_classified_keys_find_what_extraction_stores(text):
    found = classify(text)
    assert {(found.kind if found.kind != "guest" else None, k) for k in found.keys} & STORED
