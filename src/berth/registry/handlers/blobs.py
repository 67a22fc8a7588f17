"""Blob GET/HEAD (Range and conditionals by ``byteranges``, for every driver; files sent in 2 MB copies)
and DELETE (unlink; gc frees them)."""

from __future__ import annotations

import asyncio
import os

from aiohttp import web

from berth.errors import NotFound
from berth.registry import digests
from berth.registry.api.errors import ErrorCode, RegistryError
from berth.registry.handlers import byteranges, pullthrough
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
    head = ctx.request.method == "HEAD"
    redirect = None if head else ctx.registry.blobs.redirect_url(digest)
    if redirect is not None:  # storage.s3.redirect: the bytes (and Range) come from the object store
        raise web.HTTPTemporaryRedirect(redirect, headers={"Docker-Content-Digest": digest})
    answer = byteranges.plan(ctx.request, size, digest)  # HEAD answers what GET would, without the body
    if answer.content_range is not None:
        headers["Content-Range"] = answer.content_range
    if head or answer.status not in (200, 206):  # 304, 412, 416: no body
        if answer.status == 304:
            del headers["Content-Type"]
        if head and answer.status in (200, 206):
            headers["Content-Length"] = str(answer.count)
        return web.Response(status=answer.status, headers=headers)
    local = ctx.registry.blobs.local_path(digest)
    if local is not None:
        try:
            fobj = await asyncio.to_thread(open, local, "rb")
        except FileNotFoundError as exc:
            raise RegistryError(ErrorCode.BLOB_UNKNOWN, detail={"digest": digest}) from exc
        try:
            response = await _start(ctx, answer, headers)
            await _copy_file(response, fobj.fileno(), answer.offset, answer.count)
        finally:
            fobj.close()
        await response.write_eof()
        return response
    remote = ctx.registry.blobs.remote  # an object store: each read waits on the network
    try:
        if remote:
            reader = await asyncio.to_thread(ctx.registry.blobs.reader, digest, answer.offset, answer.count)
        else:
            reader = ctx.registry.blobs.reader(digest, answer.offset, answer.count)
    except NotFound as exc:
        raise RegistryError(ErrorCode.BLOB_UNKNOWN, detail={"digest": digest}) from exc
    with reader:
        response = await _start(ctx, answer, headers)
        while block := (
            await asyncio.to_thread(reader.read, _COPY_CHUNK) if remote else reader.read(_COPY_CHUNK)
        ):
            await response.write(block)
    await response.write_eof()
    return response


async def _start(
    ctx: RequestContext, answer: byteranges.Answer, headers: dict[str, str]
) -> web.StreamResponse:
    response = web.StreamResponse(status=answer.status, headers=headers)
    response.content_length = answer.count
    await response.prepare(ctx.request)
    return response


async def delete_blob(ctx: RequestContext, name: str, digest: str) -> web.StreamResponse:
    digests.require(digest)
    if not ctx.registry.blobs.unlink(name, digest):
        raise RegistryError(ErrorCode.BLOB_UNKNOWN, detail={"digest": digest})
    ctx.audit("delete", f"{name}@{digest}", kind="blob")
    return web.Response(status=202, headers={"Docker-Content-Digest": digest, "Content-Length": "0"})


async def _copy_file(response: web.StreamResponse, fd: int, offset: int, count: int) -> None:
    """Send ``count`` bytes of the file from ``offset`` in 2 MB buffers instead of sendfile(2).

    Measured on loopback (200 MB from the page cache, 2 cores, a reader in another process): sendfile,
    whole or in 512 KB-4 MB steps, blocking or polled, takes 0.07-0.19 s, bimodal from one request to
    the next; pread + send of 2 MB buffers a steady 0.045-0.06 s, as distribution's buffered copy (the
    receiver copies from freshly written socket buffers rather than cold page-cache pages; the sending
    core, which also runs loopback's receive path, is the bottleneck). Reads that would block on the
    disk go to a thread; page-cache hits (RWF_NOWAIT) stay on the loop.
    """
    loop = asyncio.get_running_loop()
    end = offset + count
    while offset < end:
        block = _read_cached(fd, min(_COPY_CHUNK, end - offset), offset)
        if block is None:
            block = await loop.run_in_executor(None, os.pread, fd, min(_COPY_CHUNK, end - offset), offset)
        if not block:
            raise ConnectionResetError("blob shrank while it was being sent")
        await response.write(block)
        offset += len(block)


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
