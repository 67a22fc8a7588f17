"""Blob GET/HEAD (sendfile and Range through FileResponse) and DELETE (unlink; gc frees the bytes)."""

from __future__ import annotations

import asyncio
from typing import IO, Any

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter

from berth.errors import NotFound
from berth.oci import digest as digests
from berth.registry.api.errors import ErrorCode, RegistryError
from berth.registry.handlers import pullthrough
from berth.registry.handlers.context import RequestContext

_COPY_CHUNK = 1 << 20


def _check_digest(digest: str) -> None:
    if not digests.is_digest(digest):
        raise RegistryError(ErrorCode.DIGEST_INVALID, f"invalid digest {digest!r}")


async def get_blob(ctx: RequestContext, name: str, digest: str) -> web.StreamResponse:
    _check_digest(digest)
    await pullthrough.ensure_blob(ctx, name, digest)
    size = ctx.registry.blobs.linked_size(name, digest)
    if size is None:
        raise RegistryError(ErrorCode.BLOB_UNKNOWN, detail={"digest": digest})
    headers = {
        "Docker-Content-Digest": digest,
        "Content-Type": "application/octet-stream",
        "ETag": f'"{digest}"',
        "Accept-Ranges": "bytes",
        "Cache-Control": "max-age=31536000",
    }
    if ctx.request.method == "HEAD":
        headers["Content-Length"] = str(size)
        return web.Response(status=200, headers=headers)
    local = ctx.registry.blobs.local_path(digest)
    if local is not None:
        if not local.exists():
            raise RegistryError(ErrorCode.BLOB_UNKNOWN, detail={"digest": digest})
        # FileResponse uses sendfile(2) and answers Range requests itself.
        return _PacedFileResponse(local, headers=headers)
    try:
        reader = ctx.registry.blobs.reader(digest)
    except NotFound as exc:
        raise RegistryError(ErrorCode.BLOB_UNKNOWN, detail={"digest": digest}) from exc
    response = web.StreamResponse(status=200, headers=headers)
    response.content_length = size
    await response.prepare(ctx.request)
    with reader:
        while block := reader.read(_COPY_CHUNK):
            await response.write(block)
    await response.write_eof()
    return response


async def delete_blob(ctx: RequestContext, name: str, digest: str) -> web.StreamResponse:
    _check_digest(digest)
    if not ctx.registry.blobs.unlink(name, digest):
        raise RegistryError(ErrorCode.BLOB_UNKNOWN, detail={"digest": digest})
    return web.Response(status=202, headers={"Docker-Content-Digest": digest, "Content-Length": "0"})


class _PacedFileResponse(web.FileResponse):
    """FileResponse whose sendfile goes in 512 KB steps instead of one call for the whole blob.

    Measured on loopback (200 MB, 2 cores): one huge sendfile keeps the sending core in the kernel
    while the reader waits, 0.16-0.17 s median; 256-512 KB steps let both sides run, 0.12-0.13 s
    (distribution, in Go, sends 4 MB steps through its poller: 0.13 s). Only ``_sendfile`` changes
    (aiohttp is pinned); Range, conditional requests and headers stay FileResponse's.
    """

    _STEP = 512 * 1024

    async def _sendfile(
        self, request: web.BaseRequest, fobj: IO[Any], offset: int, count: int
    ) -> AbstractStreamWriter:
        transport = request.transport
        if transport is None or self.compression:
            return await super()._sendfile(request, fobj, offset, count)
        writer = await web.StreamResponse.prepare(self, request)
        assert writer is not None
        loop = asyncio.get_running_loop()
        end = offset + count
        while offset < end:
            step = min(self._STEP, end - offset)
            await loop.sendfile(transport, fobj, offset, step)
            offset += step
        await web.StreamResponse.write_eof(self)
        return writer
