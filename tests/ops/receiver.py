"""A webhook receiver on loopback that follows a script: fail, time out, then recover."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """``script``: behaviours for the first requests ("fail" = HTTP 500, "timeout" = answer
    after ``hang_s``, "ok" = 200); every request after the script is "ok"."""

    def __init__(self, script=(), hang_s: float = 2.0):
        self.script, self.hang_s = list(script), hang_s
        self.requests: list[str] = []  # behaviour applied to each request, in order
        self.delivered: list[dict] = []  # bodies answered with 200
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def _next(self) -> str:
        with self.lock:
            what = self.script.pop(0) if self.script else "ok"
            self.requests.append(what)
            return what

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                what = receiver._next()
                if what == "timeout":
                    time.sleep(receiver.hang_s)
                if what == "fail":
                    self.send_response(500)
                else:
                    if what == "ok":
                        with receiver.lock:
                            receiver.delivered.append(json.loads(body))
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        return Handler

    def wait_for(self, n: int, timeout: float = 20.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.delivered) < n:
            time.sleep(0.05)
        return list(self.delivered)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
