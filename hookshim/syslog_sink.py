"""Events to syslog as RFC 5424 messages: the forwarder's option for sites that ship
everything through syslog (rsyslog, syslog-ng, a SIEM's syslog listener).

One message per event:

    <PRI>1 STARTED_AT HOST hookshim PID MSGID [hookshim@32473 seq=".." event_id=".." ...] JSON

- PRI = facility * 8 + severity; the severity comes from the outcome (``SEVERITY``).
- The structured data carries the fields a syslog server filters on without parsing the
  body; ``32473`` is the enterprise number RFC 5612 reserves for examples and
  documentation (no private enterprise number is registered for hookaudit).
- MSG is the event as compact JSON, minus the XML bodies (their SHA-256 stays): syslog
  transports cap message sizes, and the XML is on the server.

Transports (``syslog_url``): ``udp://host[:514]`` (one datagram per message),
``tcp://host[:514]`` (octet-counting framing, RFC 6587 3.4.1, so a message may contain
newlines), ``unix:///dev/log`` (the local daemon, datagram). Stdlib only; not on the hook
path. ``send`` raises OSError when the messages did not leave, so the caller keeps the
events and retries.
"""

import json
import socket

APP_NAME = "hookshim"
SD_ID = "hookshim@32473"
FACILITIES = {"kern": 0, "user": 1, "daemon": 3, "auth": 4, "syslog": 5, "authpriv": 10,
              "local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20,
              "local5": 21, "local6": 22, "local7": 23}
# What the call did to the guest operation -> syslog severity (RFC 5424 6.2.1).
SEVERITY = {
    "ok": 6,               # informational
    "failed_ignored": 5,   # notice: a script failed, libvirt went on
    "aborted": 4,          # warning: a start or migration refused (often by policy, on purpose)
    "timed_out": 3,        # error
    "killed": 3,           # error: a running guest was destroyed
}
SD_FIELDS = ("event_id", "seq", "driver", "object", "op", "subop", "outcome", "exit_code")
DROPPED_FROM_BODY = ("xml", "output_xml")
DEFAULT_PORT = 514


class SyslogError(ValueError):
    """A syslog target or facility the sink cannot use."""


def priority(event, facility):
    return facility * 8 + SEVERITY.get(event.get("outcome"), 5)


def _header_field(value, limit):
    """A header field: printable US-ASCII without spaces, at most ``limit``; NILVALUE if empty."""
    text = "".join(c for c in str(value or "") if "!" <= c <= "~")[:limit]
    return text or "-"


def _param(value):
    """PARAM-VALUE escaping (RFC 5424 6.3.3): backslash, double quote and ']'."""
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def structured_data(event):
    params = " ".join('%s="%s"' % (k, _param(event.get(k))) for k in SD_FIELDS
                      if event.get(k) is not None)
    return "[%s%s]" % (SD_ID, " " + params if params else "")


def format_message(event, facility=FACILITIES["local0"]):
    """The RFC 5424 message for one event, as bytes (UTF-8 MSG with a BOM, 6.4)."""
    body = {k: v for k, v in event.items() if k not in DROPPED_FROM_BODY}
    shim = event.get("shim") or {}
    header = "<%d>1 %s %s %s %s %s " % (
        priority(event, facility), _header_field(event.get("started_at"), 64),
        _header_field(event.get("host"), 255), APP_NAME, _header_field(shim.get("pid"), 128),
        _header_field(event.get("kind") or "hook", 32))
    text = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return (header + structured_data(event) + " ").encode() + b"\xef\xbb\xbf" + text.encode()


def parse_target(url):
    """``(family, socktype, address)`` for a ``syslog_url``; SyslogError when unusable."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("udp", "tcp", "unix") or not rest:
        raise SyslogError("syslog_url %r: expected udp://host[:port], tcp://host[:port] or "
                          "unix:///path" % url)
    if scheme == "unix":
        return socket.AF_UNIX, socket.SOCK_DGRAM, rest
    kind = socket.SOCK_DGRAM if scheme == "udp" else socket.SOCK_STREAM
    return None, kind, _host_port(rest, url)


def _host_port(text, url):
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port``."""
    host, port = text, ""
    if text.startswith("["):
        host, _, tail = text[1:].partition("]")
        port = tail[1:] if tail.startswith(":") else tail
    elif text.count(":") == 1:
        host, port = text.split(":")
    if not host or (port and not port.isdigit()):
        raise SyslogError("syslog_url %r: bad host or port" % url)
    return host, int(port or DEFAULT_PORT)


def parse_facility(name):
    try:
        return FACILITIES[name]
    except KeyError:
        raise SyslogError("syslog_facility %r: one of %s" % (name, " ".join(FACILITIES))) \
            from None


class SyslogSink:
    """Sends events to one syslog target; a TCP connection is kept and re-made on failure."""

    def __init__(self, url, facility="local0", timeout=10.0):
        self.family, self.kind, self.address = parse_target(url)
        self.facility = parse_facility(facility)
        self.timeout = timeout
        self._sock = None

    def send(self, events):
        """Send every event, in order; OSError when not all of them left."""
        messages = [format_message(ev, self.facility) for ev in events]
        try:
            sock = self._connect()
            for message in messages:
                if self.kind == socket.SOCK_STREAM:
                    sock.sendall(b"%d %s" % (len(message), message))
                else:
                    sock.send(message)
        except OSError:
            self.close()   # the next send starts on a fresh connection
            raise

    def _connect(self):
        if self._sock is None:
            if self.family == socket.AF_UNIX:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                sock.settimeout(self.timeout)
                sock.connect(self.address)
            else:   # resolves v4 or v6; a DNS name is looked up on each (re)connect
                sock = socket.create_connection(self.address, self.timeout) \
                    if self.kind == socket.SOCK_STREAM else self._udp()
            self._sock = sock
        return self._sock

    def _udp(self):
        family, kind, proto, _, addr = socket.getaddrinfo(*self.address,
                                                          type=socket.SOCK_DGRAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.settimeout(self.timeout)
        sock.connect(addr)
        return sock

    def close(self):
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
