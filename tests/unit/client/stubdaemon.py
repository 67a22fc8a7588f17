"""A tiny real HTTP/1.1 server on a unix socket, for testing the client and the CLI without berthd.

Routes are ``(METHOD, path-regex) -> handler(req) -> Reply``. Replies can be JSON, raw bytes, a chunked
stream, or a hijack (``101 Switching Protocols`` then a function that owns the socket). Every request
is recorded in ``server.requests`` (method, path, query, headers, body) so tests can check exactly what
the client sent. No mocks: the client talks to this over a real socket.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    target: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def q(self, key: str) -> str | None:
        values = self.query.get(key)
        return values[0] if values else None


@dataclass
class Reply:
    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False
    hijack: Callable[[socket.socket], None] | None = None
    close: bool = False


def json_reply(value: Any, status: int = 200) -> Reply:
    return Reply(status, json.dumps(value).encode(), {"Content-Type": "application/json"})


def error_reply(status: int, message: str) -> Reply:
    return json_reply({"message": message}, status)


Handler = Callable[[Request], Reply]


class StubDaemon:
    """Serve ``routes`` on ``socket_path`` from a background thread; ``close()`` stops it."""

    def __init__(self, socket_path: str, api_version: str = "1.50") -> None:
        self.socket_path = socket_path
        self.api_version = api_version
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.requests: list[Request] = []
        self.connections = 0
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(socket_path)
        self._sock.listen(64)
        self._closed = False
        self._threads: list[threading.Thread] = []
        self.route("HEAD", r"/_ping", lambda r: Reply(200, b""))
        self.route("GET", r"/_ping", lambda r: Reply(200, b"OK"))
        self._accept_thread = threading.Thread(target=self._accept, daemon=True)
        self._accept_thread.start()

    @property
    def host(self) -> str:
        return f"unix://{self.socket_path}"

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.insert(0, (method, re.compile(r"^(?:/v1\.\d+)?" + pattern + "$"), handler))

    def find(self, method: str, path_part: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and path_part in r.path]

    def close(self) -> None:
        self._closed = True
        self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    k, _, v = line.partition(":")
                    headers[k.strip().lower()] = v.strip()
                if "chunked" in headers.get("transfer-encoding", ""):
                    body = b""
                    while True:
                        while b"\r\n" not in buf:
                            buf += conn.recv(65536)
                        size_line, _, buf = buf.partition(b"\r\n")
                        size = int(size_line, 16)
                        while len(buf) < size + 2:
                            buf += conn.recv(65536)
                        body += buf[:size]
                        buf = buf[size + 2 :]
                        if size == 0:
                            break
                else:
                    n = int(headers.get("content-length", "0"))
                    while len(buf) < n:
                        buf += conn.recv(65536)
                    body, buf = buf[:n], buf[n:]
                parts = urlsplit(target)
                req = Request(
                    method, target, parts.path, parse_qs(parts.query, keep_blank_values=True), headers, body
                )
                self.requests.append(req)
                reply = self._dispatch(req)
                if not self._respond(conn, req, reply):
                    return
        except OSError:
            return
        finally:
            conn.close()

    def _dispatch(self, req: Request) -> Reply:
        for method, pattern, handler in self.routes:
            if method == req.method and pattern.match(req.path):
                return handler(req)
        return error_reply(404, f"page not found: {req.path}")

    def _respond(self, conn: socket.socket, req: Request, reply: Reply) -> bool:
        reasons = {
            101: "Switching Protocols",
            200: "OK",
            201: "Created",
            204: "No Content",
            304: "Not Modified",
            400: "Bad Request",
            404: "Not Found",
            409: "Conflict",
            500: "Internal Server Error",
        }
        status = reply.status
        if reply.hijack is not None and "upgrade" in req.headers.get("connection", "").lower():
            status = 101
        head = [f"HTTP/1.1 {status} {reasons.get(status, 'X')}", f"Api-Version: {self.api_version}"]
        head += [f"{k}: {v}" for k, v in reply.headers.items()]
        if status == 101:
            head += ["Connection: Upgrade", "Upgrade: tcp"]
            conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
            assert reply.hijack is not None
            reply.hijack(conn)
            return False
        if reply.hijack is not None:  # no upgrade asked: stream the same bytes as a body to close
            head.append("Connection: close")
            conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
            reply.hijack(conn)
            return False
        if reply.chunked:
            head.append("Transfer-Encoding: chunked")
            conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
            pieces = [reply.body] if isinstance(reply.body, bytes) else reply.body
            for piece in pieces:
                if piece:
                    conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            conn.sendall(b"0\r\n\r\n")
            return not reply.close
        body = reply.body if isinstance(reply.body, bytes) else b"".join(reply.body)
        if status not in (204, 304) and req.method != "HEAD":
            head.append(f"Content-Length: {len(body)}")
        elif req.method == "HEAD":
            head.append(f"Content-Length: {len(body)}")
            body = b""
        else:
            body = b""
        if reply.close:
            head.append("Connection: close")
        conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        return not reply.close
