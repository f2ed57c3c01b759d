"""The forwarder's RFC 5424 syslog sink: message format, and delivery over UDP, TCP
(octet counting) and a unix datagram socket."""
import json
import socket
import threading

import pytest

from hookshim.syslog_sink import (
    SyslogError, SyslogSink, format_message, parse_facility, parse_target, structured_data)
from tests.hookshim.helpers import hook_event

BOM = b"\xef\xbb\xbf"


def event(**overrides):
    ev = hook_event(**{"host": "dom0-7", "seq": 12, "hash": "h", "prev_hash": "p", **overrides})
    ev["started_at"] = "2026-12-03T19:00:00.123456Z"
    return ev


@pytest.mark.parametrize("outcome, pri", [
    ("ok", 16 * 8 + 6),               # local0.info
    ("failed_ignored", 16 * 8 + 5),   # notice
    ("aborted", 16 * 8 + 4),          # warning
    ("timed_out", 16 * 8 + 3),        # err
    ("killed", 16 * 8 + 3),           # err: a running guest destroyed
    ("something-new", 16 * 8 + 5),    # unknown outcome: notice, never dropped
])
def test_priority_follows_the_outcome(outcome, pri):
    assert format_message(event(outcome=outcome)).startswith(b"<%d>1 " % pri)


def test_header_fields_in_rfc5424_order():
    message = format_message(event(), parse_facility("daemon"))
    header = message.split(b" [", 1)[0].decode()
    assert header == "<30>1 2026-12-03T19:00:00.123456Z dom0-7 hookshim 1 hook"


def test_empty_and_unprintable_header_fields_become_nil_or_are_stripped():
    ev = event(host="dom0 with spaces\n")
    ev["shim"] = {}
    assert format_message(ev).split(b" [")[0].endswith(b" dom0withspaces hookshim - hook")


def test_structured_data_escapes_quote_backslash_and_bracket():
    sd = structured_data({"object": 'g"1\\x]', "seq": 3, "op": None})
    assert sd == '[hookshim@32473 seq="3" object="g\\"1\\\\x\\]"]'


def test_body_is_bom_and_the_event_as_json_without_xml_bodies():
    ev = event(xml="<domain>secret-ish</domain>")
    body = format_message(ev).split(b"] ", 1)[1]
    assert body.startswith(BOM)
    data = json.loads(body[len(BOM):])
    assert "xml" not in data and data["xml_sha256"] == ev["xml_sha256"]
    assert data["event_id"] == ev["event_id"]


@pytest.mark.parametrize("url, expected", [
    ("udp://siem.example", (socket.SOCK_DGRAM, ("siem.example", 514))),
    ("tcp://10.0.0.5:6514", (socket.SOCK_STREAM, ("10.0.0.5", 6514))),
    ("udp://[2001:db8::1]:1514", (socket.SOCK_DGRAM, ("2001:db8::1", 1514))),
    ("unix:///dev/log", (socket.SOCK_DGRAM, "/dev/log")),
])
def test_parse_target(url, expected):
    assert parse_target(url)[1:] == expected


@pytest.mark.parametrize("url", ["siem.example:514", "http://x", "tcp://", "tcp://h:port"])
def test_parse_target_refuses_what_it_cannot_use(url):
    with pytest.raises(SyslogError, match="syslog_url"):
        parse_target(url)


def test_unknown_facility_is_refused_with_the_choices():
    with pytest.raises(SyslogError, match="local7"):
        parse_facility("local9")


def test_udp_sends_one_datagram_per_event():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(10)
        sink = SyslogSink("udp://127.0.0.1:%d" % server.getsockname()[1])
        events = [event(seq=1), event(seq=2)]
        sink.send(events)
        got = [server.recv(65536) for _ in events]
        sink.close()
    assert got == [format_message(e) for e in events]


def test_tcp_uses_octet_counting_framing_and_reconnects_after_a_failure():
    received, server = [], socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def accept_one():
        conn, _ = server.accept()
        with conn:
            while chunk := conn.recv(65536):
                received.append(chunk)

    sink = SyslogSink("tcp://127.0.0.1:%d" % server.getsockname()[1])
    events = [event(seq=1, reason="two\nlines"), event(seq=2)]
    for _ in range(2):   # the second round goes over a new connection
        t = threading.Thread(target=accept_one)
        t.start()
        sink.send(events)
        sink.close()
        t.join(30)
    server.close()
    stream = b"".join(received)
    one = b"".join(b"%d %s" % (len(m), m) for m in map(format_message, events))
    assert stream == one + one


def test_send_to_a_closed_port_raises_so_the_caller_keeps_the_events():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]   # nothing listens once closed
    sink = SyslogSink("tcp://127.0.0.1:%d" % port, timeout=5)
    with pytest.raises(OSError):
        sink.send([event()])


def test_unix_datagram_to_the_local_daemon(tmp_path):
    path = str(tmp_path / "log")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as daemon:
        daemon.bind(path)
        daemon.settimeout(10)
        ev = event(outcome="killed")
        SyslogSink("unix://" + path, facility="daemon").send([ev])
        assert daemon.recv(65536) == format_message(ev, parse_facility("daemon"))
