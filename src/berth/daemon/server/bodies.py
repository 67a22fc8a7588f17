"""Request bodies for worker threads: a blocking ``read()`` whose bytes come from the event loop."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from aiohttp import web

_CHUNK = 1 << 20


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
        thread one batch behind (a thread hop per MiB, not one per socket read); its size."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        size = 0
        writing: asyncio.Future[None] | None = None
        try:
            batch = bytearray()
            while chunk := await self._content.readany():
                batch += chunk
                if len(batch) >= _CHUNK:
                    if writing is not None:
                        await writing
                    writing, batch = (
                        asyncio.ensure_future(asyncio.to_thread(_write_all, fd, batch)),
                        bytearray(),
                    )
                size += len(chunk)
            if writing is not None:
                await writing
            _write_all(fd, batch)
        finally:
            if writing is not None and not writing.done():
                await asyncio.wait([writing])
            os.close(fd)
        return size

    def readable(self) -> bool:
        return True


def _write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
