"""The event: the wire contract between the hook (hookshim) and the server (app).

One event per hook call. The server imports this module (it is stdlib-only) so that the
shim and the server hash and validate the same canonical form; the server's pydantic
model in ``app/schemas.py`` carries the same field names.

Envelope version 1. Fields (``None`` where not applicable):

    v               int      envelope version, 1
    kind            str      "hook" (a hook call) | "overflow" (marker: the spool dropped
                             details of N calls, see ``dropped``) | "internal_error"
                             | "spool_reset" (first event of a fresh spool after a damaged
                             one was kept aside; ``reset`` = {"head_seq", "head_hash",
                             "kept_as", "error"}: the last chain head read from it, hash
                             "unknown" and prev_hash GENESIS_HASH when it could not be read)
    event_id        str      time-ordered UUID (UUIDv7 layout), unique per event
    host            str      host name the shim was configured with (defaults to hostname)
    seq             int      per-host, gapless, starts at 1, assigned by the spool
    prev_hash       str      hash of the event with seq-1 (GENESIS_HASH for seq 1)
    hash            str      chain_hash(event): sha256 over the canonical form, hex
    driver          str      daemon | qemu | lxc | libxl | network | bhyve | anything else seen
    object          str      guest / network name, "-" for daemon (undecodable bytes escaped
                             with backslashreplace)
    op, subop, extra str     argv[2..4] as libvirt passed them ("-" when none)
    domain_uuid     str|None <uuid> of the domain (or network) XML, lower-case
    started_at      str      UTC, ISO 8601 with microseconds and "Z": 2026-11-25T18:13:46.123456Z
    duration_ms     float    whole hook call, rounded to 3 decimals
    exit_code       int      what the shim answered libvirtd
    outcome         str      ok | aborted | killed | failed_ignored | timed_out
    reason          str|None one line: why the call failed / was refused
    stderr          str|None what the shim printed on stderr (bounded)
    xml             str|None input XML, redacted (never hashed directly, see xml_sha256)
    xml_sha256      str|None sha256 hex of ``xml`` exactly as stored (UTF-8)
    xml_truncated   bool     input was longer than the stdin cap; ``xml`` is cut
    output_xml      str|None filter output (migrate/restore) when it changed the XML, redacted
    output_xml_sha256 str|None sha256 hex of ``output_xml`` as stored
    redactions      int      number of values redacted in xml + output_xml
    policy          dict|None {"bundle_version": str, "decisions": [
                                {"rule_id", "mode": enforce|warn|dryrun, "verdict": deny|allow|
                                 mutate|error, "message", "error"}]}
    scripts         list     adopted scripts run: [{"path", "exit_code", "duration_ms",
                             "stderr", "timed_out"}] in run order
    warnings        list[str] e.g. an unmanaged script found in <driver>.d/
    dropped         int|None (kind "overflow") how many calls lost their details
    shim            dict     {"version", "hostname", "pid"}

The hash chain covers every field except ``hash`` itself and the two XML bodies; the XML
bodies are covered through ``xml_sha256`` / ``output_xml_sha256``. So the server can
deduplicate and compress XML separately and still verify the chain from the stored
canonical form, and a tampered XML blob is detected by its digest.
"""

ENVELOPE_VERSION = 1
GENESIS_HASH = "0" * 64

OUTCOMES = ("ok", "aborted", "killed", "failed_ignored", "timed_out")
KINDS = ("hook", "overflow", "internal_error", "spool_reset")

# Not part of the canonical form: the hash itself, and the bodies covered by their digests.
UNHASHED_FIELDS = frozenset({"hash", "xml", "output_xml"})


def canonical_bytes(event):
    """The exact bytes that are hashed: sorted-key compact JSON, UTF-8, minus UNHASHED_FIELDS."""
    # wire.dumps is byte-identical to json.dumps(body, sort_keys=True, separators=(",", ":"),
    # ensure_ascii=False) (tests/hookshim/test_wire.py); it spares the hook ~6 ms of imports.
    # Where json is loaded anyway (the server), its C encoder is ~15x faster than wire.dumps.
    import sys

    body = {k: v for k, v in event.items() if k not in UNHASHED_FIELDS}
    json = sys.modules.get("json")
    if json is not None:
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return text.encode("utf-8")
    from hookshim.wire import dumps

    return dumps(body).encode("utf-8")


def chain_hash(event):
    """sha256 hex of the canonical form; the canonical form includes ``prev_hash``."""
    from hookshim.wire import sha256_hex  # same digest as hashlib, cheaper import

    return sha256_hex(canonical_bytes(event))


def xml_digest(text):
    """sha256 hex of a stored XML body (``None`` stays ``None``)."""
    if text is None:
        return None
    from hookshim.wire import sha256_hex

    return sha256_hex(text.encode("utf-8", "surrogatepass"))


def verify_event(event, expected_prev_hash=None):
    """Return a list of problems with one event (empty list = good).

    Checks the XML digests, the event's own hash and, when given, the link to the previous
    event's hash.
    """
    problems = []
    if xml_digest(event.get("xml")) != event.get("xml_sha256"):
        problems.append("xml_sha256 does not match xml")
    if xml_digest(event.get("output_xml")) != event.get("output_xml_sha256"):
        problems.append("output_xml_sha256 does not match output_xml")
    if chain_hash(event) != event.get("hash"):
        problems.append("hash does not match the event's canonical form")
    if expected_prev_hash is not None and event.get("prev_hash") != expected_prev_hash:
        problems.append("prev_hash does not link to the previous event")
    return problems


# Helpers for producers of events (added by the hook work; they do not change any field).


def new_event_id(unix_ns=None):
    """A time-ordered UUID string in the UUIDv7 layout (48-bit ms timestamp, then random)."""
    import posix  # os.urandom is posix.urandom; the hook path never loads os (fs.py)
    import time

    ms = (unix_ns if unix_ns is not None else time.time_ns()) // 1000000
    rand = int.from_bytes(posix.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64
    value |= 0b10 << 62 | rand & ((1 << 62) - 1)
    text = "%032x" % value
    return "%s-%s-%s-%s-%s" % (text[:8], text[8:12], text[12:16], text[16:20], text[20:])


def utc_timestamp(unix_ns=None):
    """``started_at`` form: UTC ISO 8601 with microseconds and "Z"."""
    import time

    ns = unix_ns if unix_ns is not None else time.time_ns()
    seconds, micros = divmod(ns // 1000, 1000000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + ".%06dZ" % micros


def domain_uuid(text):
    """``domain_uuid``: the first <uuid> of the XML (the domain's, or the network's),
    lower-case; None when there is none (string scanning: no XML parser on the hook path)."""
    if not text:
        return None
    start = text.find("<uuid>")
    end = text.find("</uuid>", start)
    if start < 0 or end < 0:
        return None
    value = text[start + 6:end].strip().lower()
    return value if 0 < len(value) <= 64 else None
