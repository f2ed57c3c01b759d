"""The forwarder's syslog option: acknowledged events also go to syslog before they are
marked sent; when syslog cannot take them, nothing is marked sent and they are sent again."""
import os
import socket

import pytest

from hookshim.config import build
from hookshim.forward import Forwarder
from hookshim.spool import Spool
from hookshim.syslog_sink import SyslogError
from tests.forwarder.test_mock_transport import posted, server
from tests.hookshim.helpers import hook_event


def forwarder(tmp_path, syslog_url, objects=("a", "b")):
    config = build({"host": "h1", "state_dir": str(tmp_path / "state"),
                    "server_url": "http://server.invalid", "interval": 0.01,
                    "syslog_url": syslog_url, "syslog_facility": "local3"})
    os.makedirs(config.state_dir, exist_ok=True)
    with Spool(os.path.join(config.state_dir, "spool.db")) as sp:
        for name in objects:
            sp.append(hook_event(object=name))
    transport = server()
    return config, transport, Forwarder(config, transport=transport)


def states(config):
    with Spool(os.path.join(config.state_dir, "spool.db")) as sp:
        return sp.stats()


def test_acknowledged_events_reach_syslog_as_rfc5424(tmp_path):
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    config, transport, fwd = forwarder(tmp_path, "udp://127.0.0.1:%d" % receiver.getsockname()[1])
    assert fwd.run(once=True) == 0
    messages = [receiver.recv(65536) for _ in range(2)]
    receiver.close()
    assert all(m.startswith(b"<%d>1 " % (19 * 8 + 6)) for m in messages)   # local3.info
    assert [b'object="a"' in messages[0], b'object="b"' in messages[1]] == [True, True]
    assert states(config)["sent"] == 2 and len(posted(transport)) == 1


def test_a_syslog_failure_keeps_the_batch_for_a_resend(tmp_path):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()   # nothing listens: connection refused
    config, transport, fwd = forwarder(tmp_path, "tcp://127.0.0.1:%d" % port)
    fwd.run(once=True)
    stats = states(config)
    assert stats["sent"] == 0 and stats["depth"] == 2
    assert len(posted(transport)) >= 1   # the server got them; it deduplicates the resend


def test_a_bad_syslog_url_is_refused_at_start(tmp_path):
    with pytest.raises(SyslogError):
        forwarder(tmp_path, "ftp://example.invalid")
