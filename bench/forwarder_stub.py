"""A real forwarder beside a benchmark's hook calls (bench/hook_storm.py, bench/hook_latency.py).

``StubIngest`` acknowledges every event (so the forwarder delivers and marks sent, as on a
host whose server is up) without a real server's CPU on this machine's two cores;
``Forwarder`` runs the real ``python3 -m hookshim forward`` for an installed shim until its
hand-over socket exists (hookshim/handoff.py).
"""
import json
import subprocess
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else "python3"


class StubIngest:
    """A server that acknowledges every event (ingest), bundle 404, heartbeat 200: what the
    forwarder talks to, without a real server's CPU on this machine's two cores."""

    def __enter__(self):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _reply(self, status, payload):
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.endswith("/ingest"):
                    events = json.loads(body)["events"]
                    self._reply(200, {"results": [{"event_id": e["event_id"],
                                                   "status": "stored"} for e in events]})
                else:
                    self._reply(200, {})

            def do_GET(self):
                self._reply(404, {"detail": "no bundle"})

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


class Forwarder:
    """``--forwarder running``: the real ``hookshim forward`` for the bench's install, until
    its hand-over socket exists."""

    def __init__(self, conf, state_dir, url):
        self.conf, self.state_dir, self.url = Path(conf), Path(state_dir), url
        self.proc = None

    def __enter__(self):
        token = self.conf.parent / "token"
        token.write_text("bench-token\n")
        token.chmod(0o600)
        self.original = self.conf.read_text()
        self.conf.write_text(self.original + "server_url = %s\ntoken_file = %s\n"
                             % (self.url, token))
        self.proc = subprocess.Popen([PYTHON, "-m", "hookshim", "--config", str(self.conf),
                                      "forward"], cwd=str(REPO), stderr=subprocess.DEVNULL)
        sock = self.state_dir / "spool.sock"
        for _ in range(500):
            if sock.exists():
                return self
            time.sleep(0.02)
        raise SystemExit("the forwarder did not start listening")

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(30)
        self.conf.write_text(self.original)
