"""HTTP(S) transport for the forwarder: stdlib http.client, keep-alive, timeouts, TLS.

Imported only by ``hookshim.forward`` — never on the hook path (the hook has no network).

Error hierarchy:

    TransportError          the request got no HTTP answer (connect, TLS, timeout, reset)
      TransportTimeout      ... because the server did not answer within ``timeout``
    TokenError              the host token file is missing/unreadable/empty (no request sent)

An HTTP answer of any status (including 5xx) is a ``Response``, not an exception: the
forwarder decides what a status means.
"""
import http.client
import json
import socket
import ssl
import urllib.parse

USER_AGENT = "hookshim-forwarder"


class TransportError(Exception):
    """No HTTP answer: connection refused/reset, DNS, TLS failure, or timeout."""


class TransportTimeout(TransportError):
    """The server accepted the connection but did not answer within the timeout."""


class TokenError(Exception):
    """The host token file is missing, unreadable or empty (an operator must fix it)."""


class Response:
    """A complete HTTP answer: status, lower-cased headers, body bytes."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        """The body as JSON, or None when it is not JSON (a proxy's HTML error page, say)."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError:
            return None

    def __repr__(self):
        return "Response(%d, %d bytes)" % (self.status, len(self.body))


def describe(resp):
    """One line for last_error from an HTTP answer: status, the API's error code and message."""
    body = resp.json()
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        return "HTTP %d %s: %s" % (resp.status, err.get("code", ""), err.get("message", ""))
    return "HTTP %d: %s" % (resp.status, resp.body[:200].decode("utf-8", "replace"))


def read_token(token_file):
    """The host token: first line of ``token_file``. Read on every request, not cached, so an
    operator can drop a new token in place after a revocation without restarting anything."""
    if not token_file:
        return None
    try:
        with open(token_file, "r", encoding="utf-8") as f:
            token = f.readline().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenError("cannot read token_file %s: %s" % (token_file, exc)) from None
    if not token:
        raise TokenError("token_file %s is empty" % token_file)
    return token


def tls_context(ca_file=None, verify=True):
    """Client TLS context: system trust store, or ``ca_file`` (a private CA) when given."""
    ctx = ssl.create_default_context(cafile=ca_file or None)
    if not verify:
        # Operator's explicit choice (verify_tls = false), e.g. a lab; never the default.
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class _StaleConnection(Exception):
    """A reused keep-alive connection turned out closed by the server (internal)."""


class Transport:
    """One keep-alive connection to the server; reconnects after any failure."""

    def __init__(self, server_url, token_file=None, ca_file=None, verify_tls=True, timeout=30.0):
        url = urllib.parse.urlsplit(server_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError("server_url must be http(s)://host[:port][/prefix]: %r" % server_url)
        self.scheme = url.scheme
        self.host = url.hostname
        self.port = url.port
        self.prefix = url.path.rstrip("/")
        self.token_file = token_file
        self.timeout = timeout
        self._tls = tls_context(ca_file, verify_tls) if url.scheme == "https" else None
        self._conn = None

    def _connect(self):
        if self._tls is not None:
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout,
                                               context=self._tls)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method, path, body=None, headers=None):
        """Send one request; return a ``Response`` or raise ``TransportError``.

        Retries are the caller's (one policy, with backoff), with one exception: a reused
        keep-alive connection that the server had already closed while idle (uvicorn closes
        them after 5 s) fails at once with a reset / broken pipe / empty answer. That request
        is sent again immediately on a fresh connection, once: it cannot have been half
        processed in a way a resend could harm (ingest is idempotent on event_id), and
        treating it as an outage would add a backoff sleep to every batch after a quiet spell.
        """
        hdrs = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        token = read_token(self.token_file)
        if token:
            hdrs["Authorization"] = "Bearer " + token
        if body is not None:
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        if self._conn is not None:
            try:
                return self._exchange(method, path, body, hdrs)
            except _StaleConnection:
                pass  # closed by the server while idle: fall through to a fresh connection
        return self._exchange(method, path, body, hdrs, stale_ok=False)

    def _exchange(self, method, path, body, hdrs, stale_ok=True):
        try:
            if self._conn is None:
                self._conn = self._connect()
            self._conn.request(method, self.prefix + path, body=body, headers=hdrs)
            raw = self._conn.getresponse()
            resp = Response(raw.status, {k.lower(): v for k, v in raw.getheaders()}, raw.read())
        except socket.timeout as exc:  # TimeoutError on 3.10+, its alias before
            self.close()
            raise TransportTimeout(
                "no answer from %s within %ss" % (self.host, self.timeout)) from exc
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected) as exc:
            self.close()
            if stale_ok:
                raise _StaleConnection() from exc
            raise TransportError("%s: %s" % (type(exc).__name__, exc)) from exc
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise TransportError("%s: %s" % (type(exc).__name__, exc)) from exc
        if resp.headers.get("connection", "").lower() == "close":
            self.close()
        return resp

    def post_json(self, path, payload, headers=None):
        return self.request("POST", path, json.dumps(payload).encode("utf-8"), headers)


class MockTransport:
    """A transport answered by a function instead of a server, as httpx's MockTransport:
    ``Forwarder(config, transport=MockTransport(handler))`` where ``handler(method, path,
    body)`` returns a ``Response`` or raises ``TransportError``/``TokenError``. Every request
    is kept in ``requests`` as (method, path, body)."""

    def __init__(self, handler):
        self.handler, self.requests = handler, []

    def request(self, method, path, body=None, headers=None):
        self.requests.append((method, path, body))
        return self.handler(method, path, body)

    def post_json(self, path, payload, headers=None):
        return self.request("POST", path, json.dumps(payload).encode("utf-8"), headers)

    def close(self):
        pass
