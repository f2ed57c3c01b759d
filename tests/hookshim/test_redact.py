"""Redaction: table of rules, and the whole corpus through the real hook."""
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


SECRETS = ("123poi", "thebeast", "sercet", "testcookievalue", "blurb", "par=val",
           "-unknown", "isa-debugcon.iobase")


def secret_files(corpus_files):
    return [f for f in corpus_files
            if re.search(r"passwd=|<cookie |query=|:commandline", f.read_text())]


def test_corpus_has_the_documented_secret_bearing_files(corpus_files):
    files = secret_files(corpus_files)
    assert len(corpus_files) == 158
    assert len(files) >= 42


@pytest.mark.slow
def test_no_secret_from_the_corpus_is_stored(shim, corpus_files):
    """Every corpus XML through the real launcher as migrate input (the op that carries
    secrets); then not one secret value may appear anywhere in the spool files."""
    shim.install("qemu")
    files = secret_files(corpus_files)
    for f in files:
        proc = shim.call("qemu", f.stem, "migrate", "begin", stdin=f.read_bytes())
        assert proc.returncode == 0 and proc.stdout == b"", f
    events = shim.events()
    assert len(events) == len(files)
    assert all(e["redactions"] >= 1 for e in events)
    raw = b"".join(p.read_bytes() for p in shim.state_dir.iterdir())
    for secret in SECRETS:
        assert secret.encode() not in raw, secret
