"""Stopping a running `hookaudit demo` with Ctrl-C (SIGINT) or SIGTERM: a clean, complete stop."""
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

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


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_signal_stops_demo_after_draining_and_leaves_nothing_running(tmp_path, sig):
    state = tmp_path / "state"
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "demo", "--dir", str(state), "--hosts", "2",
         "--guests", "4", "--burst", "4", "--port", "0", "--rate", "5"],
        cwd=REPO, env=repo_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    q, seen = queue.Queue(), []
    threading.Thread(target=read_lines, args=(proc.stdout, q), daemon=True).start()
    try:
        wait_for_line(q, "steady trickle", 180, seen)
        proc.send_signal(sig)
        assert proc.wait(120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    wait_for_line(q, "events left unsent", 5, seen)
    assert "; 0 events left unsent" in seen[-1]
    server_pid = int((state / "server.pid").read_text())
    assert not Path(f"/proc/{server_pid}").exists()
