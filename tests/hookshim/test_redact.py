"""Redaction: table of rules, and every XML fixture (and corpus file) through the real hook."""
import re

import pytest

from hookshim.redact import MASK, redact

M = MASK


@pytest.mark.parametrize("text, extra, expected, count", [
    # graphics password, either quote style, spaces around '='
    ("<graphics type='vnc' passwd='s3'/>", (), "<graphics type='vnc' passwd='%s'/>" % M, 1),
    ('<graphics passwd = "a b"/>', (), '<graphics passwd = "%s"/>' % M, 1),
    # passwdValidTo is not the password; an empty password has nothing to hide
    ("<g passwd='' passwdValidTo='2010'/>", (), "<g passwd='' passwdValidTo='2010'/>", 0),
    # attribute names must match whole: mypasswd is someone else's
    ("<x mypasswd='k'/>", (), "<x mypasswd='k'/>", 0),
    # HTTP cookies: values masked, names kept; <cookies> itself untouched
    ("<cookies><cookie name='a'>v</cookie></cookies>", (),
     "<cookies><cookie name='a'>%s</cookie></cookies>" % M, 1),
    # query strings of http(s) sources
    ("<source protocol='https' query='a=1&amp;b=2'/>", (),
     "<source protocol='https' query='%s'/>" % M, 1),
    # qemu/xen passthrough: every value, env names kept
    ("<qemu:commandline><qemu:arg value='-x'/><qemu:env name='N' value='v'/>"
     "</qemu:commandline>", (),
     "<qemu:commandline><qemu:arg value='%s'/><qemu:env name='N' value='%s'/>"
     "</qemu:commandline>" % (M, M), 2),
    ("<xen:commandline><xen:arg value='-debugcon'/></xen:commandline>", (),
     "<xen:commandline><xen:arg value='%s'/></xen:commandline>" % M, 1),
    # value= outside a commandline block is ordinary data
    ("<option value='x'/>", (), "<option value='x'/>", 0),
    # extra rules: element content, attribute of one element, attribute anywhere
    ("<metadata><a>x</a></metadata>", ("metadata",), "<metadata>%s</metadata>" % M, 1),
    ("<dhCert>AAA</dhCert><session>BBB</session>", ("dhCert", "session"),
     "<dhCert>%s</dhCert><session>%s</session>" % (M, M), 2),
    ("<disk><source file='/a'/></disk><x file='/b'/>", ("source@file",),
     "<disk><source file='%s'/></disk><x file='/b'/>" % M, 1),
    ("<a token='1'/><b token='2'/>", ("@token",), "<a token='%s'/><b token='%s'/>" % (M, M), 2),
    # nothing to do: the text is returned as is
    ("<domain><name>g</name></domain>", (), "<domain><name>g</name></domain>", 0),
])
def test_redaction_rules(text, extra, expected, count):
    assert redact(text, extra) == (expected, count)


def test_bad_extra_rule_is_refused():
    with pytest.raises(ValueError):
        redact("<a passwd='x'/>", ("a@",))


def test_redaction_is_idempotent():
    once, _ = redact("<graphics passwd='s'/><cookie>c</cookie>")
    assert redact(once) == (once, 0)


# The secret values planted in each XML set; none may reach the spool.
SECRETS = {
    "fixtures": ("pv-vnc-Kx81", "hvm-Vnc-55q", "hvm-db-03-debugcon.log", "spice-Gr33n-05",
                 "vnc-Blue-06", "dl-Tk-9931", "cookie-Val-77aa", "render-Pw-07",
                 "lic-Key-0707", "env-Tok-0707"),
    "corpus": ("123poi", "thebeast", "sercet", "testcookievalue", "blurb", "par=val",
               "-unknown", "isa-debugcon.iobase"),
}
# (XML files, of which at least this many carry secrets) per set
SIZES = {"fixtures": (11, 5), "corpus": (158, 42)}


def secret_files(xml_files):
    return [f for f in xml_files
            if re.search(r"passwd=|<cookie |query=|:commandline", f.read_text())]


def test_xml_set_has_the_documented_secret_bearing_files(xml_source, xml_files):
    total, with_secrets = SIZES[xml_source]
    assert len(xml_files) == total
    assert len(secret_files(xml_files)) >= with_secrets


def test_every_planted_fixture_secret_is_in_a_fixture():
    from tests.conftest import FIXTURES_XML

    text = "".join(p.read_text() for p in FIXTURES_XML.rglob("*.xml"))
    assert [s for s in SECRETS["fixtures"] if s not in text] == []


@pytest.mark.slow
def test_no_planted_secret_is_stored(shim, xml_source, xml_files):
    """Every secret-bearing XML through the real launcher as migrate input (the op that
    carries secrets); then not one secret value may appear anywhere in the spool files."""
    shim.install("qemu")
    files = secret_files(xml_files)
    for f in files:
        proc = shim.call("qemu", f.stem, "migrate", "begin", stdin=f.read_bytes())
        assert proc.returncode == 0 and proc.stdout == b"", f
    events = shim.events()
    assert len(events) == len(files)
    assert all(e["redactions"] >= 1 for e in events)
    raw = b"".join(p.read_bytes() for p in shim.state_dir.rglob("*") if p.is_file())
    for secret in SECRETS[xml_source]:
        assert secret.encode() not in raw, secret
