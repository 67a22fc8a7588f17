"""Blob GET/HEAD (sendfile and Range through FileResponse) and DELETE (unlink; gc frees the bytes)."""

from __future__ import annotations

from aiohttp import web

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
        return web.FileResponse(local, headers=headers)
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
