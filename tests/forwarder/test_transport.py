"""The stdlib transport: TLS verification against a private CA, timeouts, token reading."""
import socket
import subprocess

import pytest

from hookshim.transport import TokenError, Transport, TransportError, TransportTimeout, read_token
from tests.forwarder.scripted import ScriptedServer


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 (it is its own CA)."""
    d = tmp_path_factory.mktemp("tls")
    crt, key = d / "server.crt", d / "server.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(crt)], check=True, capture_output=True)
    return str(crt), str(key)


def test_tls_with_the_servers_ca_file_succeeds(cert):
    with ScriptedServer(tls=cert) as server:
        resp = Transport(server.url, ca_file=cert[0], timeout=5).request("GET", "/x")
        assert resp.status == 200


def test_tls_without_a_trusted_ca_is_refused(cert):
    with ScriptedServer(tls=cert) as server:
        with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED"):
            Transport(server.url, timeout=5).request("GET", "/x")
        assert server.requests == []


def test_verify_tls_false_accepts_an_untrusted_certificate(cert):
    with ScriptedServer(tls=cert) as server:
        assert Transport(server.url, verify_tls=False, timeout=5).request("GET", "/x").status == 200


def test_a_listener_that_never_answers_times_out():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        url = "http://127.0.0.1:%d" % listener.getsockname()[1]
        with pytest.raises(TransportTimeout):
            Transport(url, timeout=0.5).request("POST", "/api/v1/ingest", b"{}")


def test_a_refused_connection_is_a_transport_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransportError):
        Transport("http://127.0.0.1:%d" % port, timeout=2).request("GET", "/")


def test_keep_alive_connection_is_reused_and_path_prefix_applied():
    with ScriptedServer() as server:
        t = Transport(server.url + "/audit/", timeout=5)
        t.request("GET", "/api/v1/policy-bundle")
        conn = t._conn
        t.request("GET", "/api/v1/policy-bundle")
        assert t._conn is conn
        assert [r.path for r in server.requests] == ["/audit/api/v1/policy-bundle"] * 2


@pytest.mark.parametrize("content, expected", [
    ("tok\n", "tok"),              # the usual file: one line
    ("  tok  \nignored\n", "tok"),  # whitespace and later lines ignored
])
def test_read_token_first_line(tmp_path, content, expected):
    (tmp_path / "t").write_text(content)
    assert read_token(str(tmp_path / "t")) == expected


@pytest.mark.parametrize("content", [None, "", "\n"])  # missing file, empty, blank line
def test_unusable_token_file_is_a_token_error(tmp_path, content):
    if content is not None:
        (tmp_path / "t").write_text(content)
    with pytest.raises(TokenError):
        read_token(str(tmp_path / "t"))


@pytest.mark.parametrize("url", ["ftp://x", "localhost:8000", "http://"])
def test_bad_server_url_is_refused(url):
    with pytest.raises(ValueError):
        Transport(url)


def _closing_server(listener, answers):
    """Answer each connection's first request with keep-alive, then close it (like an idle
    timeout on the server side); count connections and requests."""
    for _ in range(answers):
        conn, _addr = listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 2\r\nConnection: keep-alive\r\n\r\n{}")


def test_a_keep_alive_connection_closed_by_the_server_while_idle_is_replaced_at_once():
    import threading
    import time

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        server = threading.Thread(target=_closing_server, args=(listener, 2), daemon=True)
        server.start()
        t = Transport("http://127.0.0.1:%d" % listener.getsockname()[1], timeout=5)
        assert t.request("POST", "/api/v1/ingest", b"{}").status == 200
        time.sleep(0.2)  # the server has closed the idle connection by now
        # without the fresh-connection retry this raises TransportError (BrokenPipe /
        # RemoteDisconnected) and the forwarder would back off before resending
        assert t.request("POST", "/api/v1/ingest", b"{}").status == 200
        server.join(5)
        assert not server.is_alive()  # both answers given: the second on a new connection
