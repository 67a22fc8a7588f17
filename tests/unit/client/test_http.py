"""The raw-socket HTTP client against a real local server (tests/unit/client/stubdaemon.py)."""

from __future__ import annotations

import os
import socket
import tempfile
import threading

import pytest

from berth.api.stdcopy import encode_frame
from berth.client.api import APIClient, APIConflict, APIInternal, APINotFound
from berth.client.hosts import parse_host
from berth.client.http import Connection, DaemonUnreachable, Hijacked, Response, encode_query, quote
from berth.errors import InvalidArgument, NotFound
from tests.unit.client.stubdaemon import Reply, StubDaemon, error_reply, json_reply

_clients: list[APIClient] = []


@pytest.fixture(autouse=True)
def _close_clients() -> object:
    yield
    while _clients:
        _clients.pop().close()


def make(host: str, **kw: object) -> APIClient:
    client = APIClient(host, **kw)  # type: ignore[arg-type]
    _clients.append(client)
    return client


def test_content_length_json_and_keep_alive(stub: StubDaemon) -> None:
    stub.route("GET", "/containers/json", lambda r: json_reply([{"Id": "abc"}]))
    client = make(stub.host)
    assert client.get_json("/containers/json", {"all": True}) == [{"Id": "abc"}]
    assert client.get_json("/containers/json") == [{"Id": "abc"}]
    # HEAD /_ping plus two GETs over one kept-alive connection
    assert stub.connections == 1
    paths = [r.target for r in stub.requests]
    assert paths == ["/_ping", "/v1.50/containers/json?all=1", "/v1.50/containers/json"]
    assert stub.requests[0].method == "HEAD"


def test_chunked_response_streams_json_lines(stub: StubDaemon) -> None:
    pieces = [b'{"status":"a"}\r\n{"sta', b'tus":"b"}\r\n', b'{"status":"c"}']
    stub.route("POST", "/images/create", lambda r: Reply(200, pieces, chunked=True))
    client = make(stub.host)
    resp = client.request(
        "POST", "/images/create", {"fromImage": "docker.io/library/busybox", "tag": "latest"}
    )
    assert [m["status"] for m in resp.iter_json()] == ["a", "b", "c"]
    assert stub.requests[-1].q("fromImage") == "docker.io/library/busybox"
    # the connection is reusable after a fully read chunked body
    stub.route("GET", "/version", lambda r: json_reply({"ApiVersion": "1.50"}))
    assert client.version()["ApiVersion"] == "1.50"
    assert stub.connections == 1


def test_read_to_close_body(stub: StubDaemon) -> None:
    def raw(sock: socket.socket) -> None:
        sock.sendall(b"streamed-until-close")
        sock.close()

    stub.route("GET", "/containers/x/export", lambda r: Reply(200, hijack=raw))
    client = make(stub.host)
    assert client.request("GET", "/containers/x/export").read() == b"streamed-until-close"


def test_errors_map_to_categories(stub: StubDaemon) -> None:
    stub.route("GET", "/containers/nope/json", lambda r: error_reply(404, "No such container: nope"))
    stub.route("POST", "/containers/c/start", lambda r: error_reply(409, "container is paused"))
    stub.route("GET", "/boom", lambda r: Reply(500, b"plain text failure"))
    client = make(stub.host)
    with pytest.raises(APINotFound) as info:
        client.inspect_container("nope")
    assert str(info.value) == "No such container: nope" and isinstance(info.value, NotFound)
    with pytest.raises(APIConflict):
        client.post("/containers/c/start")
    with pytest.raises(APIInternal, match="plain text failure"):
        client.get_json("/boom")


@pytest.mark.parametrize(("advertised", "used"), [("1.44", "1.44"), ("1.52", "1.50"), ("1.24", "1.24")])
def test_version_negotiation_prefix(advertised: str, used: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        stub = StubDaemon(os.path.join(tmp, "s.sock"), api_version=advertised)
        try:
            stub.route("GET", "/info", lambda r: json_reply({}))
            make(stub.host).info()
            assert stub.requests[-1].path == f"/v{used}/info"
        finally:
            stub.close()


def test_pinned_version_skips_ping(stub: StubDaemon) -> None:
    stub.route("GET", "/info", lambda r: json_reply({}))
    make(stub.host, version="1.41").info()
    assert [r.target for r in stub.requests] == ["/v1.41/info"]


def test_chunked_request_body_from_iterable(stub: StubDaemon) -> None:
    stub.route("POST", "/images/load", lambda r: json_reply({"stream": f"got {len(r.body)}"}))
    client = make(stub.host)
    body = (b"x" * 1000 for _ in range(70))
    resp = client.request("POST", "/images/load", body=body)
    assert resp.json() == {"stream": "got 70000"}
    assert stub.requests[-1].headers["transfer-encoding"] == "chunked"


def test_file_body_gets_content_length(stub: StubDaemon, tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "layer.tar")
    with open(path, "wb") as fh:
        fh.write(b"t" * 200_000)
    stub.route("POST", "/images/create", lambda r: json_reply({"status": str(len(r.body))}))
    with open(path, "rb") as fh:
        resp = make(stub.host).request("POST", "/images/create", body=fh)
    assert resp.json() == {"status": "200000"}
    assert stub.requests[-1].headers["content-length"] == "200000"


def test_hijack_is_bidirectional_and_half_closes(stub: StubDaemon) -> None:
    def echo(sock: socket.socket) -> None:
        received = b""
        while True:
            data = sock.recv(4096)
            if not data:  # the client's half-close (stdin EOF)
                break
            received += data
        sock.sendall(encode_frame(1, received.upper()) + encode_frame(2, b"err"))
        sock.close()

    stub.route("POST", "/containers/c/attach", lambda r: Reply(200, hijack=echo))
    client = make(stub.host)
    conn = client.hijack("/containers/c/attach", {"stdin": "1", "stdout": "1", "stream": "1"})
    assert isinstance(conn, Hijacked)
    req = stub.requests[-1]
    assert req.headers["connection"] == "Upgrade" and req.headers["upgrade"] == "tcp"
    conn.sendall(b"hello")
    conn.close_write()
    data = b""
    while chunk := conn.recv():
        data += chunk
    conn.close()
    assert data == encode_frame(1, b"HELLO") + encode_frame(2, b"err")


def test_hijack_error_status_raises(stub: StubDaemon) -> None:
    stub.route("POST", "/containers/gone/attach", lambda r: error_reply(404, "No such container: gone"))
    with pytest.raises(APINotFound):
        make(stub.host).hijack("/containers/gone/attach")


def test_begin_then_finish(stub: StubDaemon) -> None:
    release = threading.Event()

    def wait(r: object) -> Reply:
        release.wait(5)
        return json_reply({"StatusCode": 3, "Error": None})

    stub.route("POST", "/containers/c/wait", wait)
    client = make(stub.host)
    pending = client.begin("POST", "/containers/c/wait", {"condition": "next-exit"})
    release.set()
    assert client.finish(pending).json()["StatusCode"] == 3


def test_unreachable_daemon_message() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        host = f"unix://{tmp}/absent.sock"
        with pytest.raises(DaemonUnreachable) as info:
            make(host).info()
    assert str(info.value) == f"Cannot connect to the Berth daemon at {host}. Is berthd running?"


def test_response_without_length_on_raw_connection(stub: StubDaemon) -> None:
    conn = Connection(parse_host(stub.host))
    resp = conn.request("HEAD", "/_ping")
    assert isinstance(resp, Response) and resp.status == 200 and resp.read() == b""
    assert resp.headers["api-version"] == "1.50"
    conn.close()


def test_parse_host_forms() -> None:
    assert str(parse_host("unix:///run/berth/berth.sock")) == "unix:///run/berth/berth.sock"
    tcp = parse_host("tcp://127.0.0.1:2376")
    assert (tcp.scheme, tcp.host, tcp.port) == ("tcp", "127.0.0.1", 2376)
    assert parse_host("tcp://[::1]:2375").host == "::1"
    assert parse_host("tcp://example.org").port == 2375
    with pytest.raises(InvalidArgument):
        parse_host("ssh://host")


def test_query_and_path_quoting() -> None:
    assert encode_query({"a": True, "b": None, "names": ["x y", "z&"], "f": '{"k":{"v":true}}'}) == (
        "?a=1&names=x%20y&names=z%26&f=%7B%22k%22%3A%7B%22v%22%3Atrue%7D%7D"
    )
    assert quote("localhost:5000/team/app") == "localhost:5000/team/app"
    assert quote("a b#") == "a%20b%23"
