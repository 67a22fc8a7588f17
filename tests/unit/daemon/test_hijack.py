"""The hijack used by attach and exec, over a real socket: 101, then raw bytes both ways."""

from __future__ import annotations

import asyncio
import socket

from aiohttp import web

from berth.daemon.server.hijack import hijack


async def _echo_upper(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    client = await hijack(request, tty=True)
    await client.send(b"body:" + body + b"\n")
    while data := await client.inbound.read(1024):
        await client.send(data.upper())
    await client.send(b"bye\n")
    await client.close()
    return client.response


async def _serve() -> tuple[web.AppRunner, int]:
    app = web.Application()
    app.router.add_post("/attach", _echo_upper)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, port


def _exchange(port: int, upgrade: bool) -> bytes:
    with socket.create_connection(("127.0.0.1", port)) as s:
        headers = "Connection: Upgrade\r\nUpgrade: tcp\r\n" if upgrade else ""
        s.sendall(
            f"POST /attach HTTP/1.1\r\nHost: x\r\n{headers}Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}".encode()
        )
        s.settimeout(5)
        received = b""
        while b"body:{}\n" not in received:
            received += s.recv(4096)
        s.sendall(b"hello")
        while b"HELLO" not in received:
            received += s.recv(4096)
        s.shutdown(socket.SHUT_WR)
        while chunk := s.recv(4096):
            received += chunk
        return received


async def test_upgrade_gives_a_raw_two_way_stream() -> None:
    runner, port = await _serve()
    try:
        received = await asyncio.to_thread(_exchange, port, True)
    finally:
        await runner.cleanup()
    head, _, rest = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101")
    assert b"Upgrade: tcp" in head and b"application/vnd.docker.raw-stream" in head
    assert rest == b"body:{}\nHELLObye\n"
