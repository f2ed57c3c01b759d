"""Stopping a running `hookaudit demo` with Ctrl-C (SIGINT) or SIGTERM: a clean, complete stop."""
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from app.demo.store import repo_env

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def read_lines(stream, q):
    for line in stream:
        q.put(line)
    q.put(None)


def wait_for_line(q, text, timeout, seen):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = q.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        if text in line:
            return
    raise AssertionError(f"no {text!r} in the demo's output:\n{''.join(seen)}")


class LiveDemo:
    """`hookaudit demo` (2 hosts) running in the background until its steady trickle."""

    def __init__(self, state):
        self.state = state
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "demo", "--dir", str(state), "--hosts", "2",
             "--guests", "4", "--burst", "4", "--port", "0", "--rate", "5"],
            cwd=REPO, env=repo_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.q, self.seen = queue.Queue(), []
        threading.Thread(target=read_lines, args=(self.proc.stdout, self.q), daemon=True).start()
        wait_for_line(self.q, "steady trickle", 180, self.seen)

    def line(self, text, timeout=5):
        wait_for_line(self.q, text, timeout, self.seen)
        return self.seen[-1]

    def printed(self, prefix):
        """A line the demo printed before its trickle started."""
        return next(line for line in self.seen if line.strip().startswith(prefix))

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def live_demo(tmp_path):
    demo = LiveDemo(tmp_path / "state")
    yield demo
    demo.close()


def test_printed_login_opens_the_dashboard(live_demo):
    url = live_demo.printed("dashboard").split()[-1]
    user, password = live_demo.printed("login").split()[1::2]
    with httpx.Client(base_url=url, timeout=30) as web:
        form = web.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
        r = web.post("/login", data={"username": user, "password": password, "csrf_token": csrf,
                                     "next": "/"}, follow_redirects=True)
        assert r.status_code == 200 and r.url.path == "/", r.text[:500]
        assert web.get("/hosts").status_code == 200


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_signal_stops_demo_after_draining_and_leaves_nothing_running(live_demo, sig):
    live_demo.proc.send_signal(sig)
    assert live_demo.proc.wait(120) == 0
    assert "; 0 events left unsent" in live_demo.line("events left unsent")
    server_pid = int((live_demo.state / "server.pid").read_text())
    assert not Path(f"/proc/{server_pid}").exists()


def test_the_signal_handler_cannot_deadlock_on_the_stop_event():
    """Ctrl-C may arrive while the main thread holds the stop event's lock (the runner waits
    on it every 0.1 s); the handler runs in that thread, so it must not wait for the lock."""
    from app.demo.cli import _on_signals

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    stop = threading.Event()
    try:
        _on_signals(stop)
        handler = signal.getsignal(signal.SIGTERM)
    finally:
        for s, h in saved.items():
            signal.signal(s, h)

    def main_thread_in_wait():
        with stop._cond:            # as Event.wait holds it around its check
            handler(signal.SIGTERM, None)
    t = threading.Thread(target=main_thread_in_wait, daemon=True)
    t.start()
    t.join(10)
    assert not t.is_alive(), "the handler waited for the lock its own thread holds"
    assert stop.wait(10)
