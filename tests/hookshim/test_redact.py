"""Redaction: table of rules, and every XML fixture (and corpus file) through the real hook."""
import hashlib
import re

import pytest

from hookshim.redact import MASK, redact

M = MASK


def D(blob):   # what a <launchSecurity> blob becomes: its digest, whitespace removed
    return "[sha256:%s]" % hashlib.sha256("".join(blob.split()).encode()).hexdigest()[:16]



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
    # SEV: the owner's certificate and the launch session become digests; policy, cbitpos
    # and reducedPhysBits stay (an auditor reads them)
    ("<launchSecurity type='sev'><cbitpos>47</cbitpos><reducedPhysBits>1</reducedPhysBits>"
     "<policy>0x0001</policy><dhCert>AAA</dhCert><session>BBB</session></launchSecurity>", (),
     "<launchSecurity type='sev'><cbitpos>47</cbitpos><reducedPhysBits>1</reducedPhysBits>"
     "<policy>0x0001</policy><dhCert>%s</dhCert><session>%s</session></launchSecurity>"
     % (D("AAA"), D("BBB")), 2),
    # SEV-SNP: idAuth (signatures, keys) digested, line wrapping ignored; idBlock, hostData,
    # guestVisibleWorkarounds and the attributes stay
    ("<launchSecurity type='sev-snp' authorKey='yes'><idBlock>IB</idBlock><idAuth>\n  AA\n"
     "  BB\n</idAuth><hostData>HD</hostData></launchSecurity>", (),
     "<launchSecurity type='sev-snp' authorKey='yes'><idBlock>IB</idBlock><idAuth>%s</idAuth>"
     "<hostData>HD</hostData></launchSecurity>" % D("AABB"), 1),
    # TDX: measurements (already digests) are what an auditor compares: kept
    ("<launchSecurity type='tdx'><policy>0x10000001</policy><mrOwner>MO</mrOwner>"
     "</launchSecurity>", (),
     "<launchSecurity type='tdx'><policy>0x10000001</policy><mrOwner>MO</mrOwner>"
     "</launchSecurity>", 0),
    # an empty blob has nothing to hide; a <session> outside <launchSecurity> is not SEV's
    ("<launchSecurity type='sev'><dhCert/><session></session></launchSecurity>", (),
     "<launchSecurity type='sev'><dhCert/><session></session></launchSecurity>", 0),
    ("<metadata><session>keep</session></metadata>", (),
     "<metadata><session>keep</session></metadata>", 0),
])
def test_redaction_rules(text, extra, expected, count):
    assert redact(text, extra) == (expected, count)


def test_bad_extra_rule_is_refused():
    with pytest.raises(ValueError):
        redact("<a passwd='x'/>", ("a@",))


def test_redaction_is_idempotent():
    once, _ = redact("<graphics passwd='s'/><cookie>c</cookie>"
                     "<launchSecurity type='sev'><session>S</session></launchSecurity>")
    assert redact(once) == (once, 0)


def test_redaction_returns_every_value_it_masked():
    found = []
    redact("<graphics passwd='pw1'/><cookie name='c'>cv</cookie><qemu:commandline>"
           "<qemu:arg value='-x'/></qemu:commandline><launchSecurity type='sev'>"
           "<dhCert>DH</dhCert></launchSecurity><a token='t'/>", ("@token",), found)
    assert sorted(found) == sorted(["pw1", "cv", "-x", "DH", "t"])


LAUNCH_KEPT = ("policy", "cbitpos", "reducedPhysBits", "idBlock", "hostData",
               "guestVisibleWorkarounds", "mrConfigId", "mrOwner", "mrOwnerConfig")


def elements(text, name):
    return re.findall(r"<%s(?:\s[^>]*)?>(.*?)</%s>" % (name, name), text, re.S)


def test_launch_security_blobs_become_digests_and_the_rest_stays(xml_files):
    """Every <launchSecurity> of the XML set: each blob is its digest, each kept element
    is byte for byte what it was."""
    files = [f for f in xml_files if "<launchSecurity" in f.read_text()]
    assert files
    for f in files:
        text = f.read_text()
        stored, _ = redact(text)
        for name in ("dhCert", "session", "idAuth"):
            assert elements(stored, name) == [D(b) for b in elements(text, name)], (f, name)
        for name in LAUNCH_KEPT:
            assert elements(stored, name) == elements(text, name), (f, name)


# The secret values planted in each XML set; none may reach the spool.
SECRETS = {
    "fixtures": ("pv-vnc-Kx81", "hvm-Vnc-55q", "hvm-db-03-debugcon.log", "spice-Gr33n-05",
                 "vnc-Blue-06", "dl-Tk-9931", "cookie-Val-77aa", "render-Pw-07",
                 "lic-Key-0707", "env-Tok-0707", "sev-Vnc-0808",
                 "REhDRVJULVBMQU5URUQtMDgwOC1ndWVzdC1vd25lci1wdWJsaWM=",
                 "U0VTU0lPTi1QTEFOVEVELTA4MDgtbGF1bmNoLWJsb2I=",
                 "SURBVVRILVBMQU5URUQtMDgwOC1zaWduYXR1cmUtYW5kLWtleXM="),
    "corpus": ("123poi", "thebeast", "sercet", "testcookievalue", "blurb", "par=val",
               "-unknown", "isa-debugcon.iobase", "IHAVENOIDEABUTJUSTPROVIDINGASTRING",
               "AQAAAAAOAAAAQAAAAAOAAAAQAAAAAOAAAAQAAAAAOAAAAQAAAAAOAAA"),
}
# (XML files, of which at least this many carry secrets) per set
SIZES = {"fixtures": (12, 6), "corpus": (158, 43)}


def secret_files(xml_files):
    return [f for f in xml_files
            if re.search(r"passwd=|<cookie |query=|:commandline|<launchSecurity",
                         f.read_text())]


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
