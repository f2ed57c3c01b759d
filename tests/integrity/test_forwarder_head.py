"""The forwarder's heartbeat carries the newest event the server acknowledged (seq, hash)."""
from tests.forwarder.scripted import ScriptedServer
from tests.forwarder.test_protocol import forwarder


def _beat(fwd, server) -> dict:
    fwd.heartbeat()
    return server.posts("/api/v1/heartbeat")[-1].json()


def test_heartbeat_reports_no_head_before_any_acknowledgement(tmp_path):
    with ScriptedServer() as server:
        fwd, _ = forwarder(tmp_path, server, 2)
        assert _beat(fwd, server)["chain_head"] is None


def test_heartbeat_reports_the_newest_acknowledged_event(tmp_path):
    with ScriptedServer() as server:
        fwd, events = forwarder(tmp_path, server, 3)
        assert fwd.step().kind == "ok"
        assert _beat(fwd, server)["chain_head"] == {"seq": 3, "hash": events[2]["hash"]}
        fwd.spool.append(dict(events[0], event_id="0" * 8 + events[0]["event_id"][8:]))
        # a new, unsent event does not move the acknowledged head
        assert _beat(fwd, server)["chain_head"]["seq"] == 3
