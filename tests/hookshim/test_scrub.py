"""Secrets the XML redaction removes are scrubbed from what the adopted scripts printed, and
scrubbed before any size cap cuts it (issue 13 §5): through the real launcher."""
import pytest

from hookshim.redact import MASK
from hookshim.scrub import bounded, forms, scrub_bytes, unescaped

PASSWORD = "Vnc-Pw-4242"
COOKIE = "cookie-Val-9911"
ENV_VALUE = "env-Tok-5150"
SESSION = "U0VTU0lPTi1zZWNyZXQ="
XML = ("<domain type='kvm'><name>g1</name><uuid>6c0a1e44-9a4c-4a57-9c1c-1f0c2f7d1a01</uuid>"
       "<devices><graphics type='vnc' passwd='%s'/><disk type='network'><source "
       "protocol='https' name='/i.qcow2'><cookies><cookie name='s'>%s</cookie></cookies>"
       "</source></disk></devices><qemu:commandline xmlns:qemu='http://libvirt.org/schemas/"
       "domain/qemu/1.0'><qemu:env name='TOKEN' value='%s'/></qemu:commandline>"
       "<launchSecurity type='sev'><policy>0x0001</policy><session>%s</session>"
       "</launchSecurity></domain>" % (PASSWORD, COOKIE, ENV_VALUE, SESSION))
SECRETS = (PASSWORD, COOKIE, ENV_VALUE, SESSION)


# --- pure -------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("a&amp;b", "a&b"),                 # what a script that parses the XML prints
    ("&lt;x&gt; &quot;q&quot; &apos;", '<x> "q" \''),
    ("&amp;lt;", "&lt;"),               # &amp; last: no double unescaping
    ("plain", "plain"),
])
def test_unescaped_undoes_xml_escapes(value, expected):
    assert unescaped(value) == expected


def test_forms_are_both_spellings_longest_first_and_never_short():
    assert forms(["p&amp;ssw0rd", "on", "1", "dact"]) == [b"p&amp;ssw0rd", b"p&ssw0rd"]


def test_scrub_counts_every_occurrence():
    assert scrub_bytes(b"x secret y secret", [b"secret"]) == (b"x %s y %s" % (
        MASK.encode(), MASK.encode()), 2)


@pytest.mark.parametrize("start", range(-12, 3))
def test_a_secret_straddling_the_cap_is_never_kept_in_part(start):
    """The secret begins ``start`` bytes from the cap: whichever way it straddles it, no
    prefix of it of 2 or more characters is in what is kept."""
    cap, secret = 40, b"S3cret-Straddle"
    data = b"x" * (cap + start) + secret + b" tail"
    kept, count = bounded(data, cap, forms([secret.decode()]))
    assert count == 1 and len(kept) <= cap
    assert not any(secret[:k] in kept for k in range(2, len(secret) + 1))


# --- through the hook -------------------------------------------------------------------------

def echo_stdin(shim, to="stderr", status=1):
    target = ">&2" if to == "stderr" else ""
    shim.adopted_script("qemu", "main", "cat %s\nexit %d" % (target, status))


def assert_no_secret(event):
    text = repr({k: v for k, v in event.items() if k not in ("xml", "xml_sha256")})
    for secret in SECRETS:
        assert secret not in text, secret


def test_a_script_echoing_its_stdin_stores_no_secret(shim):
    shim.install("qemu")
    echo_stdin(shim)
    proc = shim.call("qemu", "g1", "migrate", "begin", stdin=XML)
    assert proc.returncode == 1
    event = shim.last()
    assert_no_secret(event)
    assert MASK in event["scripts"][0]["stderr"] and MASK in event["stderr"]
    assert "<policy>0x0001</policy>" in event["scripts"][0]["stderr"]   # the rest is kept
    # 4 in the XML, the same 4 in the script's stderr (the event's stderr is that stderr)
    assert event["redactions"] == 8


def test_the_answer_libvirtd_shows_is_scrubbed_too(shim):
    shim.install("qemu")
    echo_stdin(shim)
    proc = shim.call("qemu", "g1", "migrate", "begin", stdin=XML)
    for secret in SECRETS:
        assert secret.encode() not in proc.stderr


def test_a_script_printing_parsed_values_stores_none_of_them(shim):
    shim.install("qemu")
    xml = XML.replace(PASSWORD, "Pw&amp;Quote&apos;s")
    shim.adopted_script("qemu", "main", "echo \"password is Pw&Quote's\" >&2\nexit 3")
    shim.call("qemu", "g1", "migrate", "begin", stdin=xml)
    event = shim.last()
    assert "Pw&Quote" not in repr(event) and "password is %s" % MASK in event["stderr"]


def test_a_filter_output_echoing_a_secret_outside_an_attribute_is_scrubbed(shim):
    shim.install("qemu")
    out = XML.replace("<name>g1</name>", "<name>g1</name><description>%s</description>"
                      % PASSWORD)
    shim.adopted_script("qemu", "main", "cat >/dev/null\ncat <<'EOF'\n%s\nEOF" % out)
    proc = shim.call("qemu", "g1", "migrate", "begin", stdin=XML)
    assert PASSWORD.encode() in proc.stdout          # libvirt gets the filter output intact
    event = shim.last()
    assert event["output_xml"] and PASSWORD not in event["output_xml"]
    assert "<description>%s</description>" % MASK in event["output_xml"]


def test_a_secret_straddling_the_stderr_cap_is_not_stored_in_part(shim):
    shim.install("qemu", stderr_max_bytes=64)
    shim.adopted_script("qemu", "main",
                        "cat >/dev/null\nprintf '%%060d%s and more' 0 >&2\nexit 1" % PASSWORD)
    shim.call("qemu", "g1", "migrate", "begin", stdin=XML)
    event = shim.last()
    stored = event["scripts"][0]["stderr"]
    assert stored == "0" * 60 + MASK[:4]
    assert PASSWORD[:2] not in stored and PASSWORD[:2] not in event["stderr"]
    assert event["redactions"] == 4 + 1


def test_a_secret_straddling_the_xml_cap_is_not_stored_in_part(shim):
    cut = XML.index(PASSWORD) + 4        # the cap falls inside the password
    shim.install("qemu", stdin_max_bytes=cut)
    shim.call("qemu", "g1", "migrate", "begin", stdin=XML)
    event = shim.last()
    assert event["xml_truncated"] and len(event["xml"].encode()) <= cut
    assert PASSWORD[:4] not in event["xml"]


def test_no_secret_no_cost_stderr_is_kept_as_printed(shim):
    shim.install("qemu")
    shim.adopted_script("qemu", "main", "cat >/dev/null\necho 'plain failure' >&2\nexit 1")
    shim.call("qemu", "g1", "start", "begin", stdin="<domain><name>g1</name></domain>")
    event = shim.last()
    assert event["scripts"][0]["stderr"] == "plain failure\n" and event["redactions"] == 0
