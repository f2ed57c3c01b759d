"""Single-host mode: the forwarder as a thread inside another process (the server's own host)."""
import pytest

from hookshim.forward_thread import ForwarderThread, local_forwarder_starter
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


SERVER_WITH_LOCAL_FORWARDER = """
import sys, uvicorn
from app.main import create_app
from hookshim.forward_thread import local_forwarder_starter
app = create_app()
app.state.startup_hooks.append(local_forwarder_starter(sys.argv[1], timeout=5, max_backoff=0.5))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


def test_the_server_can_forward_its_own_hosts_spool(tmp_path):
    """Single-host mode as the quick start runs it: no forwarder daemon at all."""
    import os
    import subprocess
    import sys

    from tests.forwarder.stack import REPO, Host, ServerDb, free_port, wait_for

    db_url = "sqlite:///%s" % (tmp_path / "server.db")
    db = ServerDb(db_url)
    db.create_schema()
    port = free_port()
    host = Host(tmp_path / "host", "dom0-a", "http://127.0.0.1:%d" % port, db.add_host("dom0-a"))
    host.fire(3)
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER_WITH_LOCAL_FORWARDER, str(host.config), str(port)],
        cwd=REPO, env=dict(os.environ, HOOKAUDIT_DATABASE_URL=db_url),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(host.drained, 60, "the in-process forwarder to drain the spool")
        host.fire(2)
        wait_for(host.drained, 30, "the second round")
    finally:
        server.terminate()
        out = server.communicate(timeout=30)[0].decode(errors="replace")
    # uvicorn shuts down gracefully (lifespan stops the forwarder), then re-raises SIGTERM
    assert server.returncode in (0, -15) and "Traceback" not in out, out
    assert_delivered_exactly_once(host, db)
    db.dispose()
