"""The hookshim CLI: status (+ Prometheus textfile), spool list, run."""
import json
import subprocess
import sys

from tests.hookshim.helpers import REPO

XML = b"<domain><name>g</name><uuid>bbbbbbbb-2222-3333-4444-555555555555</uuid></domain>"


def cli(shim, *args, stdin=b""):
    return subprocess.run([sys.executable, "-m", "hookshim", "--config", str(shim.config)]
                          + list(args), input=stdin, capture_output=True, cwd=str(REPO))


def test_run_is_the_hook_call(shim):
    shim.install("qemu")
    shim.adopted_script("qemu", "main", "cat >/dev/null; echo no >&2; exit 4")
    proc = cli(shim, "run", "qemu", "g", "prepare", "begin", "-", stdin=XML)
    assert proc.returncode == 4 and proc.stderr == b"no\n"   # the script's stderr, as libvirt shows it
    assert shim.last()["outcome"] == "aborted"


def test_spool_list_json_is_ndjson_of_wire_events(shim):
    shim.install("qemu")
    for op in ("prepare", "start", "started"):
        shim.call("qemu", op=op, stdin=XML)
    proc = cli(shim, "spool", "list", "--json", "--limit", "2")
    events = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert [e["op"] for e in events] == ["start", "started"]
    assert events == shim.events()[1:]
    for key in ("event_id", "seq", "driver", "object", "op", "subop", "extra", "exit_code",
                "outcome", "duration_ms", "started_at", "xml", "reason"):
        assert key in events[0]


def test_spool_list_human_and_state_filter(shim):
    shim.install("qemu")
    shim.call("qemu", stdin=XML)
    out = cli(shim, "spool", "list").stdout.decode()
    assert "qemu" in out and "prepare/begin" in out and "ready" in out
    assert cli(shim, "spool", "list", "--state", "parked").stdout == b""


def test_status_and_prometheus_textfile(shim, tmp_path):
    shim.install("qemu")
    shim.call("qemu", stdin=XML)
    prom = tmp_path / "hookshim.prom"
    proc = cli(shim, "status", "--json", "--prometheus", str(prom))
    stats = json.loads(proc.stdout)
    assert (stats["depth"], stats["last_seq"], stats["parked"], stats["dropped"]) == (1, 1, 0, 0)
    text = prom.read_text()
    for name in ("hookshim_spool_depth", "hookshim_spool_oldest_unsent_age_seconds",
                 "hookshim_spool_parked", "hookshim_spool_dropped_total"):
        assert "# TYPE %s " % name in text
    assert 'hookshim_spool_depth{host="%s"} 1' % stats["host"] in text


def test_status_without_a_spool_creates_nothing(shim):
    shim.install("qemu")
    stats = json.loads(cli(shim, "status", "--json").stdout)
    assert stats["depth"] == 0 and not shim.spool_path.exists()


def test_config_option_after_the_subcommand(shim):
    shim.install("qemu")
    shim.call("qemu", stdin=XML)
    proc = subprocess.run([sys.executable, "-m", "hookshim.cli", "status", "--json", "--config",
                           str(shim.config)], capture_output=True, cwd=str(REPO))
    assert json.loads(proc.stdout)["last_seq"] == 1


def test_status_names_the_enforced_bundle_and_a_broken_one(shim):
    shim.install("qemu")
    bundle = shim.state_dir / "policy-bundle.json"
    bundle.write_text(json.dumps({"format": 1, "version": "abc123", "rules": [], "by_op": {}}))
    stats = json.loads(cli(shim, "status", "--json").stdout)
    assert (stats["bundle_version"], stats["bundle_error"]) == ("abc123", None)
    bundle.write_text("{not json")
    stats = json.loads(cli(shim, "status", "--json").stdout)
    assert stats["bundle_version"] is None and "is not JSON" in stats["bundle_error"]
