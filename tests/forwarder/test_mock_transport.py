"""The forwarder against an in-process MockTransport (no socket): parked events reach the
heartbeat, and a damaged spool is reset with the reset event delivered first."""
import json
import os

from hookshim.config import build
from hookshim.spool import sqlite3
from hookshim.forward import Forwarder
from hookshim.spool import Spool
from hookshim.transport import MockTransport, Response
from tests.hookshim.helpers import hook_event


def answer(status, body):
    return Response(status, {"content-type": "application/json"}, json.dumps(body).encode())


def server(reject_object=None):
    """Stores every event except those whose object is ``reject_object`` (422, by index)."""
    def handle(method, path, body):
        if path != "/api/v1/ingest":
            return answer(200, {"ok": True})
        events = json.loads(body)["events"]
        bad = [i for i, e in enumerate(events) if e["object"] == reject_object]
        if bad:
            return answer(422, {"error": {"code": "validation_error", "message": "bad",
                                          "details": [{"index": i, "field": "object",
                                                       "message": "refused"} for i in bad]}})
        return answer(200, {"results": [{"event_id": e["event_id"], "status": "stored"}
                                        for e in events]})
    return MockTransport(handle)


def setup(tmp_path, transport, objects=()):
    config = build({"host": "h1", "state_dir": str(tmp_path / "state"),
                    "server_url": "http://server.invalid", "interval": 0.01})
    os.makedirs(config.state_dir, exist_ok=True)
    with Spool(os.path.join(config.state_dir, "spool.db")) as sp:
        for name in objects:
            sp.append(hook_event(object=name))
    return config, Forwarder(config, transport=transport)


def posted(transport, path="/api/v1/ingest"):
    return [json.loads(body) for _, p, body in transport.requests if p == path]


def test_a_parked_event_is_counted_in_the_heartbeat(tmp_path):
    transport = server(reject_object="bad")
    config, fwd = setup(tmp_path, transport, ["a", "bad", "c"])
    assert fwd.run(once=True) == 0
    heartbeat = posted(transport, "/api/v1/heartbeat")[-1]   # the one --once sends last
    assert heartbeat["parked"] == 1 and heartbeat["spool_depth"] == 0
    assert "parked" in heartbeat["last_error"]


def test_a_damaged_spool_is_reset_and_the_reset_is_delivered_first(tmp_path):
    transport = server()
    config, fwd = setup(tmp_path, transport)
    with open(os.path.join(config.state_dir, "spool.db"), "wb") as f:
        f.write(b"garbage " * 4000)
    assert fwd.run(once=True) == 0
    (batch,) = posted(transport)
    (reset,) = batch["events"]
    assert reset["kind"] == "spool_reset" and reset["host"] == "h1"
    kept = [n for n in os.listdir(config.state_dir) if ".corrupt-" in n]
    assert kept and reset["reset"]["kept_as"] in kept


def test_the_forwarder_follows_a_reset_made_by_a_hook_call(tmp_path):
    transport = server()
    config, fwd = setup(tmp_path, transport, ["before"])
    fwd.open()
    assert fwd.guarded_step().kind == "ok"
    path = os.path.join(config.state_dir, "spool.db")
    os.rename(path, path + ".old")   # what a reset does: a new file at the path
    with open(path + ".old", "r+b") as f:
        f.write(b"garbage " * 512)
    with Spool(path) as hook_side:
        hook_side.append(hook_event(object="after"))
    assert fwd.guarded_step().kind == "ok"
    fwd.close()
    assert [e["object"] for e in posted(transport)[-1]["events"]] == ["after"]


def test_the_forwarder_resets_a_spool_damaged_under_it(tmp_path):
    transport = server()
    config, fwd = setup(tmp_path, transport, ["one"])
    fwd.open()
    assert fwd.guarded_step().kind == "ok"
    path = os.path.join(config.state_dir, "spool.db")
    with open(path, "r+b") as f:
        f.write(b"garbage " * 4096)

    def claim(**kw):   # what SQLite raises once it reads the damaged pages (not cached ones)
        raise sqlite3.DatabaseError("database disk image is malformed")

    fwd.spool.claim = claim
    attempt = fwd.guarded_step()
    assert attempt.kind == "transient" and "damaged" in attempt.error
    assert fwd.guarded_step().kind == "ok"
    fwd.close()
    assert posted(transport)[-1]["events"][0]["kind"] == "spool_reset"
