"""`hookshim status` and `hookshim spool` on parked events and on a damaged spool."""
import json

from hookshim.spool import Spool
from tests.hookshim.test_cli import XML, cli


def park_second(shim):
    shim.install("qemu")
    for op in ("prepare", "start", "started"):
        shim.call("qemu", op=op, stdin=XML)
    with Spool(str(shim.spool_path)) as sp:
        parked = sp.latest()[1]
        sp.park(parked["event_id"], "server rejected: object: too long")
    return parked


def test_status_counts_parked_events_and_their_age(shim):
    park_second(shim)
    stats = json.loads(cli(shim, "status", "--json").stdout)
    assert stats["parked"] == 1 and stats["oldest_parked_age_s"] >= 0
    text = cli(shim, "status").stdout.decode()
    assert "oldest_parked_age_s" in text


def test_spool_parked_lists_them_with_the_servers_reason(shim):
    park_second(shim)
    proc = cli(shim, "spool", "parked")
    (line,) = proc.stdout.decode().splitlines()
    assert line.startswith("2  parked") and "server rejected: object: too long" in line


def test_spool_parked_show_prints_one_event_in_full(shim):
    parked = park_second(shim)
    shown = json.loads(cli(shim, "spool", "parked", "--show", parked["event_id"]).stdout)
    assert shown["server_said"] == "server rejected: object: too long"
    assert shown["event"] == parked and shown["recorded_at"].endswith("Z")
    other = shim.events()[0]["event_id"]
    proc = cli(shim, "spool", "parked", "--show", other)
    assert proc.returncode == 1 and b"no parked event" in proc.stderr


def test_status_on_a_damaged_spool_reports_it_without_a_traceback(shim):
    shim.install("qemu")
    shim.state_dir.mkdir(exist_ok=True)
    shim.spool_path.write_bytes(b"garbage " * 2000)
    proc = cli(shim, "status", "--json")
    assert proc.returncode == 1 and b"Traceback" not in proc.stderr
    assert b"DAMAGED" in proc.stderr and b"corrupt-" in proc.stderr
    stats = json.loads(proc.stdout)
    assert "file is not a database" in stats["spool_damaged"]
    for args in (("status",), ("spool", "list"), ("spool", "parked")):
        proc = cli(shim, *args)
        assert proc.returncode == 1 and b"Traceback" not in proc.stderr, args
    assert shim.spool_path.read_bytes() == b"garbage " * 2000   # status only reports


def test_prometheus_textfile_flags_a_damaged_spool(shim, tmp_path):
    shim.install("qemu")
    shim.state_dir.mkdir(exist_ok=True)
    shim.spool_path.write_bytes(b"garbage " * 2000)
    prom = tmp_path / "shim.prom"
    cli(shim, "status", "--prometheus", str(prom))
    assert any(line.startswith("hookshim_spool_damaged{") and line.endswith("} 1")
               for line in prom.read_text().splitlines())


def test_status_on_a_spool_damaged_past_its_header_reports_it(shim):
    from tests.hookshim.test_spool_reset import damage_events_table

    park_second(shim)
    damage_events_table(shim.spool_path)
    proc = cli(shim, "status")
    assert proc.returncode == 1 and b"Traceback" not in proc.stderr and b"DAMAGED" in proc.stderr
