"""Request bodies for worker threads: a blocking ``read()`` whose bytes come from the event loop."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from aiohttp import web

_CHUNK = 1 << 20
_IOV_MAX = 1024  # Linux's limit of buffers in one writev


class BodyReader:
    """A blocking ``read(size)`` over the request body, for a worker thread; fills reads up to ``size``
    (``-1``: everything). Used where tar streams (import, load, cp, build contexts) are consumed."""

    def __init__(self, request: web.Request, loop: asyncio.AbstractEventLoop) -> None:
        self._content = request.content
        self._loop = loop

    def _call(self, size: int) -> bytes:
        return asyncio.run_coroutine_threadsafe(self._content.read(size), self._loop).result()

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            parts = []
            while chunk := self._call(_CHUNK):
                parts.append(chunk)
            return b"".join(parts)
        data = bytearray()  # (bytes += bytes copied each MiB ~8 times over)
        while len(data) < size:
            chunk = self._call(size - len(data))
            if not chunk:
                break
            data += chunk
        return bytes(data)

    async def copy_to(self, path: Path) -> int:
        """The whole body into a new file ``path``, read on the event loop and written by a worker
        thread one batch behind (a thread hop per MiB, not one per socket read; the batch's pieces
        go out in one ``writev``, uncopied); its size."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        size = 0
        writing: asyncio.Future[None] | None = None
        try:
            batch: list[bytes] = []
            batched = 0
            while chunk := await self._content.readany():
                batch.append(chunk)
                batched += len(chunk)
                if batched >= _CHUNK:
                    if writing is not None:
                        await writing
                    writing = asyncio.ensure_future(asyncio.to_thread(_write_all, fd, batch))
                    size, batch, batched = size + batched, [], 0
            if writing is not None:
                await writing
            _write_all(fd, batch)
            size += batched
        finally:
            if writing is not None and not writing.done():
                await asyncio.wait([writing])
            os.close(fd)
        return size

    def readable(self) -> bool:
        return True


def _write_all(fd: int, pieces: list[bytes]) -> None:
    views = [memoryview(piece) for piece in pieces if piece]
    while views:
        written = os.writev(fd, views[:_IOV_MAX])
        while views and written >= len(views[0]):
            written -= len(views.pop(0))
        if written:
            views[0] = views[0][written:]
