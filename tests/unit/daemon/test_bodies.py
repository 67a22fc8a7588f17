"""A request body spooled to a file (build contexts): every byte, in order, over a real HTTP server."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

from aiohttp import web

from berth.client.http import _chunked
from berth.daemon.server.bodies import BodyReader, _write_all


async def test_a_chunked_body_of_odd_pieces_is_spooled_whole(tmp_path: Path) -> None:
    pieces = [os.urandom(size) for size in (1, 65_536, 3, 1 << 20, 700_001, 17)]
    spooled = tmp_path / "body"

    async def handler(request: web.Request) -> web.Response:
        size = await BodyReader(request, asyncio.get_running_loop()).copy_to(spooled)
        return web.Response(text=str(size))

    app = web.Application()
    app.router.add_post("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        for frame in _chunked(iter(pieces)):
            writer.write(frame)
        await writer.drain()
        answer = await reader.read()
        writer.close()
    finally:
        await runner.cleanup()
    assert answer.startswith(b"HTTP/1.1 200")
    assert answer.endswith(str(sum(map(len, pieces))).encode())
    assert spooled.read_bytes() == b"".join(pieces)


def test_write_all_finishes_partial_writes_in_order() -> None:
    """A pipe takes at most its capacity per write: writev returns short, the rest still goes."""
    pieces = [os.urandom(size) for size in (100_000, 5, 300_000, 0, 65_536)]
    read_fd, write_fd = os.pipe()
    got = bytearray()

    def drain() -> None:
        while data := os.read(read_fd, 4096):
            got.extend(data)

    reader = threading.Thread(target=drain)
    reader.start()
    _write_all(write_fd, pieces)
    os.close(write_fd)
    reader.join()
    os.close(read_fd)
    assert bytes(got) == b"".join(pieces)
