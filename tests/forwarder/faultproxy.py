"""An HTTP proxy in front of the real app that injects the faults a fleet sees: a listener
that accepts and never answers, a server answering 500, a response that never comes back
(the request reached the server, the acknowledgement is lost)."""
import http.client
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RELAY = "relay"            # pass everything through
BLACKHOLE = "blackhole"    # accept the connection, read nothing, answer nothing
ERROR_500 = "error500"     # answer every request with HTTP 500
HOLD = "hold"              # forward ingest requests, keep their response until release()
CORRUPT_BUNDLE = "corrupt"  # the policy bundle download arrives damaged (200, cut-off JSON)


class FaultProxy:
    def __init__(self, upstream_port, mode=RELAY):
        self.upstream_port = upstream_port
        self.mode = mode
        self.seen = []                       # (mode, method, path) of every request
        self.answers = []                    # (path, status) of every answer sent
        self.bodies = []                     # (path, body) of every answer sent
        self.in_flight = threading.Event()   # HOLD: a request reached the server
        self._release = threading.Event()
        self._stop = threading.Event()
        self._conns = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                proxy._conns.append(self.connection)

            def handle(self):
                if proxy.mode == BLACKHOLE:
                    proxy.seen.append((BLACKHOLE, None, None))
                    proxy._stop.wait()  # hold the socket open until the proxy stops
                    return
                super().handle()

            def _serve(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                mode = proxy.mode
                proxy.seen.append((mode, self.command, self.path))
                if mode == CORRUPT_BUNDLE and self.path.endswith("/policy-bundle"):
                    return self._answer(200, [("Content-Type", "application/json")],
                                        b'{"format": 1, "version": "x", "rules": [{"id"')
                if mode == ERROR_500:
                    return self._answer(500, [("Content-Type", "application/json")],
                                        b'{"error": {"code": "internal", "message": "injected"}}')
                status, headers, data = proxy._upstream(self.command, self.path, self.headers, body)
                if mode == HOLD and self.path.endswith("/ingest"):
                    proxy.in_flight.set()
                    proxy._release.wait()
                try:
                    self._answer(status, headers, data)
                except OSError:
                    pass  # the client is gone (killed, or gave up): that is the point

            def _answer(self, status, headers, data):
                proxy.answers.append((self.path, status))
                proxy.bodies.append((self.path, data))
                self.send_response(status)
                for k, v in headers:
                    if k.lower() not in ("content-length", "connection", "transfer-encoding",
                                         "date", "server"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True).start()

    def _upstream(self, method, path, headers, body):
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=60)
        try:
            fwd = {k: v for k, v in headers.items() if k.lower() not in ("host", "connection")}
            conn.request(method, path, body=body, headers=fwd)
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        except OSError:
            return (502, [("Content-Type", "application/json")],
                    b'{"error": {"code": "bad_gateway"}}')
        finally:
            conn.close()

    def release(self):
        """HOLD: let held responses go (the proxy then relays)."""
        self.mode = RELAY
        self._release.set()

    def drop_connections(self):
        for conn in self._conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self._stop.set()
        self._release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.drop_connections()
