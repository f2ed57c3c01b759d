"""Single-host mode: the forwarder as a thread inside another process (the server's own host)."""
import pytest

from hookshim.forward import ForwarderThread, local_forwarder_starter
from tests.forwarder.faultproxy import HOLD
from tests.forwarder.stack import assert_delivered_exactly_once
from tests.forwarder.test_faults import Stack

pytestmark = pytest.mark.slow


@pytest.fixture
def stack(tmp_path):
    s = Stack(tmp_path, "sqlite:///%s" % (tmp_path / "server.db"), via_proxy=True)
    yield s
    s.close()


def test_forwarder_thread_drains_the_hosts_spool(stack):
    stack.host.fire(5)
    thread = ForwarderThread(str(stack.host.config), timeout=5, max_backoff=0.5)
    thread.start()
    try:
        stack.wait_drained()
        stack.host.fire(3)
        stack.wait_drained()
    finally:
        thread.stop(timeout=10)
    assert not thread.is_alive()
    assert_delivered_exactly_once(stack.host, stack.db)


def test_stopping_the_starter_finishes_the_batch_in_flight(stack):
    stack.host.fire(4)
    stack.proxy.mode = HOLD
    stop = local_forwarder_starter(str(stack.host.config), timeout=30)(None)
    assert stack.proxy.in_flight.wait(30)
    import threading

    threading.Timer(0.3, stack.proxy.release).start()
    stop()  # returns once the held batch was acknowledged
    assert {st for _, _, st in stack.host.spooled()} == {"sent"}
    assert_delivered_exactly_once(stack.host, stack.db)
