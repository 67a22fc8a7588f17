"""Request bodies for worker threads: a blocking ``read()`` whose bytes come from the event loop."""

from __future__ import annotations

import asyncio

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
        data = b""
        while len(data) < size:
            chunk = self._call(size - len(data))
            if not chunk:
                break
            data += chunk
        return data

    def readable(self) -> bool:
        return True
