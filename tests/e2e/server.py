"""The real hookaudit server for the e2e tests: Alembic-migrated SQLite, uvicorn on 127.0.0.1,
a host token per forwarder and a viewer token for the API."""
import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from tests.serving import free_port, uvicorn_command, wait_ready

REPO = Path(__file__).resolve().parents[2]


class Server:
    def __init__(self, directory, *host_names):
        self.dir = Path(directory)
        self.url_db = f"sqlite:///{self.dir / 'hookaudit.db'}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.host_names = host_names
        self.proc = None
        self.host_tokens, self.user_token = {}, None

    def start(self, timeout=30):
        from app.db import Database
        from app.migrate import upgrade
        from app.services import accounts

        upgrade(self.url_db)
        db = Database(self.url_db)
        with db.session(write=True) as s:
            for name in self.host_names:
                self.host_tokens[name] = accounts.add_host(s, name)
            accounts.add_user(s, "e2e-viewer", "viewer", None)
            self.user_token = accounts.create_user_token(s, "e2e-viewer")
        db.dispose()
        env = {**os.environ, "HOOKAUDIT_DATABASE_URL": self.url_db,
               "HOOKAUDIT_SECRET_KEY": "e2e-only-secret-key"}
        with open(self.dir / "uvicorn.log", "ab") as log:
            self.proc = subprocess.Popen(uvicorn_command(self.port), cwd=REPO, env=env,
                                         stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        try:
            wait_ready(self.url, self.proc, timeout)
        except AssertionError as exc:
            raise RuntimeError(f"{exc}: {(self.dir / 'uvicorn.log').read_text()}") from None
        return self

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def get(self, path):
        """GET an API path as the viewer; returns the decoded JSON (raises on non-200)."""
        req = urllib.request.Request(self.url + path,
                                     headers={"Authorization": f"Bearer {self.user_token}"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"GET {path}: {exc.code} {exc.read()[:500]!r}") from None
