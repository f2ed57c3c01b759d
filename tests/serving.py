"""The real app in its own process, for tests that need one (several workers, a browser, a
forwarder, libvirtd's hooks): a free port, the uvicorn command, and waiting for /healthz."""
import socket
import subprocess
import sys
import time
import urllib.request


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def uvicorn_command(port: int) -> list[str]:
    """`create_app()` under uvicorn on 127.0.0.1:port, configured by HOOKAUDIT_* variables."""
    return [sys.executable, "-m", "uvicorn", "--factory", "app.main:create_app",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Return once ``url``/healthz answers 200; AssertionError if ``proc`` exits first or the
    timeout passes (its log is wherever the caller sent its output)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server process exited ({proc.returncode}) before {url} "
                                 "answered")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url}/healthz did not answer within {timeout:.0f} s")
