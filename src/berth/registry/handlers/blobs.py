"""Blob GET/HEAD (Range through FileResponse, sent in 2 MB copies) and DELETE (unlink; gc frees them)."""

from __future__ import annotations

import asyncio
import os
from typing import IO, Any

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter

from berth.errors import NotFound
from berth.registry import digests
from berth.registry.api.errors import ErrorCode, RegistryError
from berth.registry.handlers import pullthrough
from berth.registry.handlers.context import RequestContext

_COPY_CHUNK = 2 << 20  # measured on loopback: 1 MB steps ~10% slower, 256 KB and less much slower


async def get_blob(ctx: RequestContext, name: str, digest: str) -> web.StreamResponse:
    digests.require(digest)
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
    redirect = ctx.registry.blobs.redirect_url(digest)
    if redirect is not None:  # storage.s3.redirect: the bytes come from the object store
        raise web.HTTPTemporaryRedirect(redirect, headers={"Docker-Content-Digest": digest})
    local = ctx.registry.blobs.local_path(digest)
    if local is not None:
        if not local.exists():
            raise RegistryError(ErrorCode.BLOB_UNKNOWN, detail={"digest": digest})
        # FileResponse answers Range and conditional requests itself.
        return _CopyingFileResponse(local, headers=headers)
    remote = ctx.registry.blobs.remote  # an object store: each read waits on the network
    try:
        if remote:
            reader = await asyncio.to_thread(ctx.registry.blobs.reader, digest)
        else:
            reader = ctx.registry.blobs.reader(digest)
    except NotFound as exc:
        raise RegistryError(ErrorCode.BLOB_UNKNOWN, detail={"digest": digest}) from exc
    response = web.StreamResponse(status=200, headers=headers)
    response.content_length = size
    await response.prepare(ctx.request)
    with reader:
        while block := (
            await asyncio.to_thread(reader.read, _COPY_CHUNK) if remote else reader.read(_COPY_CHUNK)
        ):
            await response.write(block)
    await response.write_eof()
    return response


async def delete_blob(ctx: RequestContext, name: str, digest: str) -> web.StreamResponse:
    digests.require(digest)
    if not ctx.registry.blobs.unlink(name, digest):
        raise RegistryError(ErrorCode.BLOB_UNKNOWN, detail={"digest": digest})
    ctx.audit("delete", f"{name}@{digest}", kind="blob")
    return web.Response(status=202, headers={"Docker-Content-Digest": digest, "Content-Length": "0"})


class _CopyingFileResponse(web.FileResponse):
    """FileResponse that copies the file through 2 MB buffers instead of sendfile(2).

    Measured on loopback (200 MB from the page cache, 2 cores, a reader in another process): sendfile,
    whole or in 512 KB-4 MB steps, blocking or polled, takes 0.07-0.19 s, bimodal from one request to
    the next; pread + send of 2 MB buffers a steady 0.045-0.06 s, as distribution's buffered copy (the
    receiver copies from freshly written socket buffers rather than cold page-cache pages; the sending
    core, which also runs loopback's receive path, is the bottleneck). Reads that would block on the
    disk go to a thread; page-cache hits (RWF_NOWAIT) stay on the loop. Only ``_sendfile`` changes
    (aiohttp is pinned); Range, conditional requests and headers stay FileResponse's.
    """

    async def _sendfile(
        self, request: web.BaseRequest, fobj: IO[Any], offset: int, count: int
    ) -> AbstractStreamWriter:
        writer = await web.StreamResponse.prepare(self, request)
        assert writer is not None
        loop = asyncio.get_running_loop()
        fd, end = fobj.fileno(), offset + count
        while offset < end:
            block = _read_cached(fd, min(_COPY_CHUNK, end - offset), offset)
            if block is None:
                block = await loop.run_in_executor(None, os.pread, fd, min(_COPY_CHUNK, end - offset), offset)
            if not block:
                raise ConnectionResetError("blob shrank while it was being sent")
            await writer.write(block)
            offset += len(block)
        await web.StreamResponse.write_eof(self)
        return writer


def _read_cached(fd: int, size: int, offset: int) -> bytes | bytearray | None:
    """What of the range is in the page cache, without waiting for the disk (None: nothing is)."""
    buffer = bytearray(size)
    try:
        got = os.preadv(fd, [buffer], offset, os.RWF_NOWAIT)
    except (BlockingIOError, OSError):
        return None  # not cached, or a filesystem without RWF_NOWAIT
    if got == 0:
        return b""
    del buffer[got:]
    return buffer
