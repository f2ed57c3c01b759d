"""A scripted HTTP server for the forwarder's protocol tests: each request is answered by a
Python function, and every request is recorded. (The fault tests use the real app.)"""
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Request:
    def __init__(self, method, path, headers, body):
        self.method, self.path, self.headers, self.body = method, path, headers, body

    def json(self):
        return json.loads(self.body)


def reply(status, body=None, headers=None):
    """(status, headers, body bytes) with a JSON body."""
    data = b"" if body is None else json.dumps(body).encode()
    return status, dict(headers or {}, **{"Content-Type": "application/json"}), data


def ack_all(req):
    """What the real ingest answers when it stores every event (and 200 ok elsewhere)."""
    if req.path != "/api/v1/ingest":
        return reply(200, {"ok": True})
    events = req.json()["events"]
    results = [{"event_id": e["event_id"], "status": "stored"} for e in events]
    return reply(200, {"stored": len(events), "duplicates": 0, "gaps": [], "chain_problems": [],
                       "results": results})


def error(status, code, message, details=None, headers=None):
    return reply(status, {"error": {"code": code, "message": message, "details": details}}, headers)


class ScriptedServer:
    """``ScriptedServer(handler)``; ``handler(Request) -> (status, headers, body)``."""

    def __init__(self, handler=ack_all, tls=None):
        self.handler = handler
        self.requests = []
        self.connections = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                outer.connections.append(self.connection)

            def _serve(self):
                n = int(self.headers.get("Content-Length") or 0)
                req = Request(self.command, self.path, dict(self.headers), self.rfile.read(n))
                outer.requests.append(req)
                status, headers, body = outer.handler(req)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _serve

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        scheme = "http"
        if tls:  # (certfile, keyfile)
            import ssl

            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.url = "%s://127.0.0.1:%d" % (scheme, self.httpd.server_address[1])
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,),
                                        daemon=True)

    def posts(self, path="/api/v1/ingest"):
        return [r for r in self.requests if r.method == "POST" and r.path == path]

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        for conn in self.connections:  # a stopped server drops its keep-alive connections too
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
