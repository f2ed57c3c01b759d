"""The demo's server side: a fresh SQLite store, an admin login, one host + token per simulated
host, and the server itself (uvicorn in a child process, stopped with the demo).
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

ADMIN_USER = "admin"
REPO = Path(__file__).resolve().parents[2]


def repo_env(**extra: str) -> dict[str, str]:
    """The environment for our child processes: they import app/hookshim from this checkout
    even when it is not installed (a plain clone run with ``python -m``)."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return dict(os.environ, PYTHONPATH=path, **extra)


@dataclass
class Credentials:
    url: str                      # the dashboard, e.g. http://127.0.0.1:8000/
    db_url: str
    admin_user: str
    admin_password: str
    admin_token: str              # API token of the admin (bench, tests, curl)
    host_tokens: dict[str, str]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        path.chmod(0o600)

    @classmethod
    def load(cls, path: Path) -> Credentials:
        return cls(**json.loads(path.read_text()))


def prepare_store(db_url: str, host_names: list[str]) -> tuple[str, str, dict[str, str]]:
    """Upgrade the schema; create the admin (password + API token) and every host's token."""
    from app.db import Database
    from app.migrate import upgrade
    from app.services import accounts

    upgrade(db_url)
    password = secrets.token_urlsafe(12)
    db = Database(db_url)
    try:
        with db.session(write=True) as s:
            accounts.add_user(s, ADMIN_USER, "admin", password)
            admin_token = accounts.create_user_token(s, ADMIN_USER, label="demo")
            tokens = {name: accounts.add_host(s, name) for name in host_names}
    finally:
        db.dispose()
    return password, admin_token, tokens


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_taken(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def _die_with_parent() -> None:
    # The server must not outlive the demo even if the demo is killed with SIGKILL.
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Server:
    """``uvicorn app.main:create_app`` on the demo's store, in its own session so that a Ctrl-C
    reaches only the demo, which stops the server last (after the forwarders drained)."""

    def __init__(self, db_url: str, bind: str, port: int, log_path: Path, secret_key: str,
                 policy_dir: Path, pid_path: Path | None = None):
        self.base = f"http://{bind}:{port}"
        # Plain HTTP on localhost: the session cookie cannot be HTTPS-only, or login fails.
        env = repo_env(HOOKAUDIT_DATABASE_URL=db_url, HOOKAUDIT_SECRET_KEY=secret_key,
                       HOOKAUDIT_POLICY_DIR=str(policy_dir),
                       HOOKAUDIT_SESSION_COOKIE_SECURE="false",
                       # Stale after a minute (the default is 5): the demo's outage shows it.
                       HOOKAUDIT_HOST_STALE_AFTER_S="60")
        argv = [sys.executable, "-m", "uvicorn", "--factory", "app.main:create_app",
                # The access log in server.log: the requests of the dashboard and the forwarders.
                "--host", bind, "--port", str(port), "--log-level", "info",
                # Forwarders keep their connection open between polls and heartbeats; uvicorn's
                # 5 s default closes it under them (a retried BrokenPipe in demo.log).
                "--timeout-keep-alive", "75"]
        self.log = open(log_path, "ab")  # noqa: SIM115 — closed in stop()
        self.proc = subprocess.Popen(argv, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True,
                                     preexec_fn=_die_with_parent)  # noqa: PLW1509 — prctl only
        if pid_path is not None:
            pid_path.write_text(f"{self.proc.pid}\n")

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with status {self.proc.returncode}"
                                   f" (see {self.log.name})")
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"the server did not answer /healthz within {timeout:.0f}s")

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
