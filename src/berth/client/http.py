"""A minimal HTTP/1.1 client over a raw socket: just what the Docker Engine API needs.

Implemented: unix and tcp sockets, TLS (``ssl`` is imported only then), request bodies as bytes or as a
stream of chunks (sent with ``Transfer-Encoding: chunked``), responses with ``Content-Length``, chunked
or read-to-close bodies, streaming reads, keep-alive reuse of one socket, and connection hijacking
(``Connection: Upgrade`` / ``Upgrade: tcp`` answered by ``101``) for attach and exec.

Why not http.client or requests: each costs ~20 ms of imports, which is most of the CLI's budget.

    conn = Connection(parse_host("unix:///run/berth/berth.sock"))
    resp = conn.request("GET", "/v1.50/containers/json")
    resp.status, resp.json()
"""

from __future__ import annotations

import _socket  # the C module: socket.py costs ~1-2 ms of start-up (enum, selectors) for nothing we use
import os

from berth.client.hosts import Address
from berth.errors import Internal, Unavailable

# typing and collections.abc are imported only for type checkers (start-up time; mypy understands this).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import Any, BinaryIO

    from berth.client.tlssock import TLSSocket

    Body = bytes | BinaryIO | Iterable[bytes] | None
    Sock = _socket.socket | TLSSocket

_CHUNK = 65536
_MAX_HEAD = 1 << 20
_NO_BODY_STATUSES = frozenset((101, 204, 304))


class DaemonUnreachable(Unavailable):
    """The daemon's socket is absent or refused the connection (the daemon is not running)."""

    def __init__(self, address: Address, reason: str = "") -> None:
        self.address = address
        self.reason = reason
        super().__init__(f"Cannot connect to the Berth daemon at {address}. Is berthd running?")


class ProtocolError(Internal):
    """The server's answer is not well-formed HTTP/1.1 (or the connection ended mid-response)."""


class _ClosedBeforeHead(ProtocolError):
    """The server closed the connection without answering (on a fresh tcp one: a TLS mismatch)."""


def _refused(address: Address) -> Unavailable:
    """A fresh tcp connection closed (or reset) before any answer: berthd's TLS refused us (its asyncio
    TLS layer closes without sending an alert, so this is all the client sees), or we spoke plain HTTP
    to it."""
    tls = address.tls
    if tls is None:
        return Unavailable(f"the daemon at {address} closed the connection: does it need --tlsverify?")
    if not tls.cert_file:
        return Unavailable(
            f"the daemon at {address} refused the TLS connection: no client certificate "
            "(pass --tlscert/--tlskey, or put cert.pem and key.pem in the config dir)"
        )
    return Unavailable(
        f"the daemon at {address} refused the TLS connection: client certificate {tls.cert_file} "
        "is not signed by its CA"
    )


def _connect(address: Address, timeout: float | None) -> Sock:
    try:
        if address.scheme == "unix":
            sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(address.path)
            except OSError:
                sock.close()
                raise
        else:
            import socket  # tcp is not the start-up-critical path

            sock = socket.create_connection((address.host, address.port), timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError as exc:
        raise DaemonUnreachable(address, str(exc)) from exc
    if address.tls is None:
        sock.settimeout(None)
        return sock
    tls = _wrap_tls(sock, address)  # the handshake still under the connect timeout
    tls.settimeout(None)
    return tls


def _wrap_tls(sock: _socket.socket, address: Address) -> TLSSocket:
    import ssl

    from berth.client.tlssock import TLSSocket

    tls = address.tls
    if tls is None:
        raise Internal("TLS requested without TLS settings")
    if tls.verify:
        ctx = ssl.create_default_context(cafile=tls.ca_file)
        # Docker certificates name the host in SANs; IP hosts are checked by IP SAN.
        ctx.check_hostname = True
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if tls.cert_file:
        ctx.load_cert_chain(tls.cert_file, tls.key_file)
    try:
        return TLSSocket(sock, ctx, server_hostname=address.host)
    except OSError as exc:  # ssl.SSLError is one
        sock.close()
        raise Unavailable(f"TLS handshake with {address} failed: {exc}") from exc


class _Reader:
    """Buffered reads from a socket (lines for the head, exact sizes for bodies)."""

    def __init__(self, sock: Sock, initial: bytes = b"") -> None:
        self.sock = sock
        self.buf = bytearray(initial)

    def _fill(self) -> bool:
        data = self.sock.recv(_CHUNK)
        if not data:
            return False
        self.buf += data
        return True

    def read_head(self) -> bytes:
        start = 0
        while True:
            idx = self.buf.find(b"\r\n\r\n", start)
            if idx >= 0:
                head = bytes(self.buf[:idx])
                del self.buf[: idx + 4]
                return head
            start = max(0, len(self.buf) - 3)
            if len(self.buf) > _MAX_HEAD:
                raise ProtocolError("response head too large")
            if not self._fill():
                raise _ClosedBeforeHead("connection closed before the response head")

    def readline(self) -> bytes:
        while True:
            idx = self.buf.find(b"\r\n")
            if idx >= 0:
                line = bytes(self.buf[:idx])
                del self.buf[: idx + 2]
                return line
            if not self._fill():
                raise ProtocolError("connection closed in a chunked body")

    def read_exact(self, size: int) -> Iterator[bytes]:
        remaining = size
        while remaining > 0:
            if not self.buf and not self._fill():
                raise ProtocolError("connection closed in the response body")
            piece = bytes(self.buf[:remaining])
            del self.buf[: len(piece)]
            remaining -= len(piece)
            yield piece

    def read_some(self) -> bytes:
        if self.buf:
            data = bytes(self.buf)
            self.buf.clear()
            return data
        return self.sock.recv(_CHUNK)


class Response:
    """An HTTP response whose body is read lazily from the socket.

    ``headers`` has lower-case names. Read the body with exactly one of ``read``, ``json``,
    ``iter_chunks``, ``iter_lines`` or ``iter_json``; ``close`` discards the connection if the body was
    not read to its end.
    """

    def __init__(self, conn: Connection, reader: _Reader, method: str) -> None:
        self._conn = conn
        self._reader = reader
        head = reader.read_head().decode("latin-1").split("\r\n")
        parts = head[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise ProtocolError(f"malformed status line {head[0]!r}")
        try:
            self.status = int(parts[1])
        except ValueError as exc:
            raise ProtocolError(f"malformed status line {head[0]!r}") from exc
        self.reason = parts[2] if len(parts) > 2 else ""
        self.headers: dict[str, str] = {}
        for line in head[1:]:
            name, sep, value = line.partition(":")
            if sep:
                key = name.strip().lower()
                value = value.strip()
                self.headers[key] = f"{self.headers[key]}, {value}" if key in self.headers else value
        self._keep_alive = (
            parts[0] != "HTTP/1.0" and "close" not in self.headers.get("connection", "").lower()
        )
        self._done = False
        self._chunked = False
        self._length: int | None = None
        if method == "HEAD" or self.status in _NO_BODY_STATUSES or 100 <= self.status < 200:
            self._length = 0
        elif "chunked" in self.headers.get("transfer-encoding", "").lower():
            self._chunked = True
        elif "content-length" in self.headers:
            try:
                self._length = int(self.headers["content-length"])
            except ValueError as exc:
                raise ProtocolError("malformed Content-Length") from exc
        else:
            self._keep_alive = False  # body runs to the end of the connection

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def iter_chunks(self) -> Iterator[bytes]:
        """The body as it arrives (chunk boundaries are not meaningful)."""
        if self._done:
            return
        reader = self._reader
        if self._chunked:
            while True:
                size_line = reader.readline().split(b";")[0].strip()
                try:
                    size = int(size_line, 16)
                except ValueError as exc:
                    raise ProtocolError("malformed chunk size") from exc
                if size == 0:
                    while reader.readline():  # trailers
                        pass
                    break
                yield from reader.read_exact(size)
                reader.readline()
        elif self._length is not None:
            yield from reader.read_exact(self._length)
        else:
            while True:
                data = reader.read_some()
                if not data:
                    break
                yield data
        self._done = True
        self._conn._release(self._keep_alive)

    def read(self) -> bytes:
        return b"".join(self.iter_chunks())

    def json(self) -> Any:
        from berth.client.wirejson import loads

        data = self.read()
        return loads(data) if data.strip() else None

    def iter_lines(self) -> Iterator[bytes]:
        """The body split on ``\\n`` (the final line may lack one)."""
        pending = b""
        for chunk in self.iter_chunks():
            pending += chunk
            *lines, pending = pending.split(b"\n")
            yield from lines
        if pending:
            yield pending

    def iter_json(self) -> Iterator[Any]:
        """Concatenated or newline-separated JSON values (progress, events, stats streams)."""
        import json

        decoder = json.JSONDecoder()
        buf = ""
        for chunk in self.iter_chunks():
            buf += chunk.decode("utf-8", "replace")
            while True:
                buf = buf.lstrip()
                if not buf:
                    break
                try:
                    value, end = decoder.raw_decode(buf)
                except json.JSONDecodeError:
                    break
                yield value
                buf = buf[end:]
        if buf.strip():
            raise ProtocolError("truncated JSON stream")

    def close(self) -> None:
        if not self._done:
            self._done = True
            self._conn._release(False)


class Hijacked:
    """A connection taken over after ``101 Switching Protocols``: raw bytes both ways.

    ``recv`` returns b"" at the end of the stream; ``close_write`` half-closes (stdin EOF).
    """

    def __init__(self, sock: Sock, leftover: bytes) -> None:
        self.sock = sock
        self._leftover = leftover

    def fileno(self) -> int:
        return self.sock.fileno()

    def recv(self, size: int = _CHUNK) -> bytes:
        if self._leftover:
            data, self._leftover = self._leftover, b""
            return data
        try:
            return self.sock.recv(size)
        except ConnectionResetError:
            return b""

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close_write(self) -> None:
        if not isinstance(self.sock, _socket.socket):  # TLS: close_notify, not a tcp shutdown under it
            self.sock.close_write()
            return
        try:  # noqa: SIM105 - contextlib costs start-up time; this module is on the hot path
            self.sock.shutdown(_socket.SHUT_WR)
        except OSError:
            pass  # already closed by the peer: nothing left to half-close

    def close(self) -> None:
        self.sock.close()


class Pending:
    """A request already sent whose response has not been read yet."""

    def __init__(self, conn: Connection, sock: Sock, method: str) -> None:
        self._conn = conn
        self._sock = sock
        self._method = method
        self._response: Response | None = None

    def fileno(self) -> int:
        return self._sock.fileno()

    def wait_head(self, timeout: float) -> bool:
        """Read the response head if it arrives within ``timeout`` seconds (True if it did).

        berthd and dockerd answer ``wait`` headers as soon as the wait is armed, so ``run`` uses this to
        know the exit cannot be missed before it sends ``start``.
        """
        import select

        if self._response is not None:
            return True
        ready, _, _ = select.select([self._sock], [], [], timeout)
        if ready:
            self._response = self.response()
        return bool(ready)

    def response(self) -> Response:
        """Block until the response head arrives."""
        if self._response is not None:
            return self._response
        try:
            resp = Response(self._conn, _Reader(self._sock), self._method)
        except OSError as exc:
            self._conn.close()
            raise Unavailable(f"connection to {self._conn.address} lost: {exc}") from exc
        resp._keep_alive = False  # a one-off connection: closed once the body is read
        return resp

    def cancel(self) -> None:
        self._conn.close()


class Connection:
    """One keep-alive HTTP/1.1 connection to the daemon, opened on first use and re-opened as needed.

    Not thread-safe: use one Connection per thread (``APIClient.fork`` gives a fresh one).
    """

    def __init__(self, address: Address, *, timeout: float | None = None) -> None:
        self.address = address
        self.timeout = timeout
        self._sock: Sock | None = None
        self._busy = False
        self._reused = False

    def _release(self, keep: bool) -> None:
        self._busy = False
        if not keep:
            self.close()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _acquire(self) -> Sock:
        if self._busy:
            self.close()  # a previous response was not read to its end
        if self._sock is None:
            self._sock = _connect(self.address, self.timeout)
            self._reused = False
        else:
            self._reused = True
        self._busy = True
        return self._sock

    def _send(self, sock: Sock, method: str, path: str, headers: dict[str, str], body: Body) -> None:
        host = "berth" if self.address.scheme == "unix" else f"{self.address.host}:{self.address.port}"
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "User-Agent: Berth-Client/0.1"]
        stream: Iterable[bytes] | None = None
        data = b""
        if isinstance(body, bytes):
            data = body
            lines.append(f"Content-Length: {len(body)}")
        elif body is not None:
            size = _file_size(body)
            if size is not None:
                lines.append(f"Content-Length: {size}")
                stream = _file_chunks(body)  # type: ignore[arg-type]  # _file_size checked fileno
            else:
                lines.append("Transfer-Encoding: chunked")
                stream = _chunked(_iter_body(body))
        elif method in ("POST", "PUT"):
            lines.append("Content-Length: 0")
        lines.extend(f"{k}: {v}" for k, v in headers.items())
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if data and len(data) < _CHUNK:
            sock.sendall(head + data)
        else:
            sock.sendall(head)
            if data:
                sock.sendall(data)
        if stream is not None:
            for piece in stream:
                sock.sendall(piece)

    def request(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, body: Body = None
    ) -> Response:
        """Send one request and return the response once its head has arrived.

        A kept-alive socket the server closed meanwhile is re-opened once (only for bodies that can be
        re-sent: bytes or none).
        """
        hdrs = headers or {}
        for attempt in (0, 1):
            sock = self._acquire()
            reused = self._reused
            try:
                self._send(sock, method, path, hdrs, body)
                return Response(self, _Reader(sock), method)
            except (ProtocolError, BrokenPipeError, ConnectionResetError) as exc:
                self.close()
                self._busy = False
                retryable = reused and attempt == 0 and (body is None or isinstance(body, bytes))
                dropped = isinstance(exc, _ClosedBeforeHead | ConnectionResetError | BrokenPipeError)
                if dropped and not reused and self.address.scheme == "tcp":
                    raise _refused(self.address) from exc
                if not retryable:
                    if isinstance(exc, ProtocolError):
                        raise
                    raise Unavailable(f"connection to {self.address} lost: {exc}") from exc
        raise ProtocolError("unreachable")  # pragma: no cover

    def begin(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, body: Body = None
    ) -> Pending:
        """Send a request now and read its response later (``wait`` before ``start`` in ``run``)."""
        sock = self._acquire()
        try:
            self._send(sock, method, path, headers or {}, body)
        except OSError as exc:
            self.close()
            self._busy = False
            raise Unavailable(f"connection to {self.address} lost: {exc}") from exc
        return Pending(self, sock, method)

    def hijack(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, body: Body = None
    ) -> Hijacked | Response:
        """Ask to upgrade to a raw stream. Returns Hijacked on 101, else the Response (an error, or a
        server that streams without upgrading). The connection is handed over either way."""
        self.close()
        sock = _connect(self.address, self.timeout)
        hdrs = {"Connection": "Upgrade", "Upgrade": "tcp"}
        hdrs.update(headers or {})
        try:
            self._send(sock, method, path, hdrs, body)
            reader = _Reader(sock)
            private = Connection(self.address)
            private._sock, private._busy = sock, True
            resp = Response(private, reader, method)
            resp._keep_alive = False  # the socket was handed over: close it with the body
        except (OSError, ProtocolError):
            sock.close()
            raise
        if resp.status == 101:
            return Hijacked(sock, bytes(reader.buf))
        return resp


def _file_size(body: object) -> int | None:
    fileno = getattr(body, "fileno", None)
    if fileno is None:
        return None
    try:
        st = os.fstat(fileno())
    except (OSError, ValueError):
        return None
    import stat

    if not stat.S_ISREG(st.st_mode):
        return None
    pos = body.tell() if hasattr(body, "tell") else 0
    return max(0, st.st_size - pos)


def _file_chunks(body: BinaryIO) -> Iterator[bytes]:
    while True:
        data = body.read(_CHUNK)
        if not data:
            return
        yield data


def _iter_body(body: BinaryIO | Iterable[bytes]) -> Iterator[bytes]:
    if hasattr(body, "read"):
        yield from _file_chunks(body)  # type: ignore[arg-type]  # checked: it has read()
    else:
        yield from body


def _chunked(pieces: Iterator[bytes]) -> Iterator[bytes]:
    for piece in pieces:
        if piece:  # the frame apart from the piece: a MiB is sent, not copied
            yield b"%x\r\n" % len(piece)
            yield piece
            yield b"\r\n"
    yield b"0\r\n\r\n"


def quote(text: str, safe: str = "/:@") -> str:
    """Percent-encode for a URL path (``/:@`` kept, as Go's url.URL does) or, with ``safe=""``, a
    query value (RFC 3986 unreserved characters kept)."""
    out = []
    for byte in text.encode():
        ch = chr(byte)
        if ch.isascii() and (ch.isalnum() or ch in "-._~" or ch in safe):
            out.append(ch)
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def encode_query(params: dict[str, Any] | None) -> str:
    """``?a=1&b=x`` from a dict; None values are skipped, lists repeat the key, bools become 1/0."""
    if not params:
        return ""
    parts = []
    for key, value in params.items():
        if value is None:
            continue
        values = value if isinstance(value, list | tuple) else [value]
        for v in values:
            text = ("1" if v else "0") if isinstance(v, bool) else str(v)
            parts.append(f"{quote(key, '')}={quote(text, '')}")
    return "?" + "&".join(parts) if parts else ""


__all__ = [
    "Connection",
    "DaemonUnreachable",
    "Hijacked",
    "Pending",
    "ProtocolError",
    "Response",
    "encode_query",
    "quote",
]
