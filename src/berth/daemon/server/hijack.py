"""Connection hijack for attach and exec: answer ``101 UPGRADED`` and turn the HTTP connection into a
raw, two-way byte pipe (moby writes the status line by hand; aiohttp knows ``Upgrade: tcp``).

Without an ``Upgrade`` header the same bytes stream in a ``200 OK`` body of type
``application/vnd.docker.raw-stream`` (or ``multiplexed-stream``), and nothing is read from the client.
"""

from __future__ import annotations

import asyncio
import fcntl
import socket
import struct
import termios
from dataclasses import dataclass

from aiohttp import web

RAW_STREAM = "application/vnd.docker.raw-stream"
MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream"


class _Inbound:
    """The parser aiohttp feeds once the connection is upgraded: it forwards bytes to a StreamReader."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self._reader.feed_data(data)
        return False, b""

    def feed_eof(self) -> None:
        self._reader.feed_eof()


class _HijackedProtocol(asyncio.Protocol):
    """Owns a hijacked connection: input goes to a StreamReader, a half-close is only end of input,
    and flow control and the final close are handed back to aiohttp's protocol so it cleans up."""

    def __init__(self, inbound: asyncio.StreamReader, original: asyncio.BaseProtocol) -> None:
        self._inbound = inbound
        self._original = original

    def data_received(self, data: bytes) -> None:
        self._inbound.feed_data(data)

    def eof_received(self) -> bool:
        self._inbound.feed_eof()
        return True  # keep our write side open

    def pause_writing(self) -> None:
        self._original.pause_writing()

    def resume_writing(self) -> None:
        self._original.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._inbound.at_eof():
            self._inbound.feed_eof()
        self._original.connection_lost(exc)


@dataclass(slots=True)
class HijackedStream:
    """The client side of a hijacked connection: ``inbound`` is what the client sends (stdin);
    ``send`` writes to it; ``upgraded`` is False for the plain 200 streaming fallback."""

    response: web.StreamResponse
    inbound: asyncio.StreamReader
    upgraded: bool
    transport: asyncio.Transport | None = None

    async def send(self, data: bytes) -> None:
        await self.response.write(data)

    async def close(self) -> None:
        if self.upgraded:
            if self.transport is not None and not self.transport.is_closing():
                self.transport.close()
        else:
            await self.response.write_eof()


async def _read_by_client(transport: asyncio.Transport, limit: float = 1.0) -> None:
    """Wait (up to ``limit`` s) until the client has read the ``101`` answer, on a unix socket (where
    the kernel tells what the peer has not read yet). docker-py reads the upgraded stream from the
    socket itself, past its HTTP parser's buffer: output that came in one read with the answer
    would stay in that buffer, lost — as ``exec_run`` under load showed."""
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family != socket.AF_UNIX:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while _unread(sock.fileno()) > 0 and loop.time() < deadline:
        await asyncio.sleep(0.001)


def _unread(fd: int) -> int:
    """Bytes sent on a unix socket that its peer has not read yet (SIOCOUTQ, as TIOCOUTQ)."""
    try:
        return int(struct.unpack("i", fcntl.ioctl(fd, termios.TIOCOUTQ, b"\0\0\0\0"))[0])
    except OSError:
        return 0


def wants_upgrade(request: web.Request) -> bool:
    return "upgrade" in request.headers.get("Connection", "").lower() and bool(request.headers.get("Upgrade"))


async def hijack(request: web.Request, *, tty: bool) -> HijackedStream:
    """Answer the request and return the raw two-way stream (see module docstring)."""
    content_type = RAW_STREAM if tty else MULTIPLEXED_STREAM
    inbound = asyncio.StreamReader()
    if wants_upgrade(request):
        resp = web.StreamResponse(status=101, reason="UPGRADED")
        resp.headers["Content-Type"] = content_type
        resp.headers["Connection"] = "Upgrade"
        resp.headers["Upgrade"] = "tcp"
        await resp.prepare(request)
        protocol = request.protocol
        protocol.set_parser(_Inbound(inbound))  # type: ignore[arg-type]  # flushes bytes aiohttp already read
        transport = request.transport
        if transport is not None:
            # Take the connection over from aiohttp: its handler would close the whole connection
            # when the client half-closes (end of stdin), but output must keep flowing after that.
            transport.set_protocol(_HijackedProtocol(inbound, protocol))
            await _read_by_client(transport)
        return HijackedStream(resp, inbound, upgraded=True, transport=transport)
    resp = web.StreamResponse(status=200)
    resp.headers["Content-Type"] = content_type
    await resp.prepare(request)
    inbound.feed_eof()
    return HijackedStream(resp, inbound, upgraded=False)
