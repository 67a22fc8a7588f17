"""Pull-through hooks the manifest and blob handlers call before answering from local storage."""

from __future__ import annotations

import contextlib
import logging

from berth.errors import Unavailable
from berth.registry import digests
from berth.registry.api.errors import ErrorCode, RegistryError
from berth.registry.handlers.context import RequestContext
from berth.registry.policy.immutability import TagImmutable

log = logging.getLogger(__name__)


def _has_local(ctx: RequestContext, name: str, reference: str) -> bool:
    try:
        ctx.registry.manifests.resolve(name, reference)
    except RegistryError:
        return False
    return True


async def refresh_manifest(ctx: RequestContext, name: str, reference: str) -> None:
    """Fetch a tag from upstream on every pull, a digest only when it is not cached yet."""
    upstream = ctx.registry.upstream
    if upstream is None or (digests.is_reference(reference) and _has_local(ctx, name, reference)):
        return
    try:
        fetched = await upstream.manifest(name, reference)
    except Unavailable as exc:
        if _has_local(ctx, name, reference):
            log.warning("serving cached %s:%s: %s", name, reference, exc)
            return
        raise
    if fetched is None:
        return
    ctx.registry.repos.ensure(name)
    try:
        ctx.registry.manifests.put(
            name, reference, fetched.data, fetched.media_type, [], verify_references=False
        )
    except TagImmutable as pinned:  # an immutable tag keeps the digest first cached
        log.info("serving cached %s:%s, not upstream's: %s", name, reference, pinned)


async def ensure_blob(ctx: RequestContext, name: str, digest: str) -> None:
    """Fetch a blob this repository does not hold yet, verifying it like any upload."""
    registry = ctx.registry
    if registry.upstream is None or registry.blobs.linked_size(name, digest) is not None:
        return
    stream = await registry.upstream.blob(name, digest)
    if stream is None:
        return
    registry.repos.ensure(name)
    upload_id = registry.uploads.start(name, digests.algorithm_of(digest))
    try:
        await registry.uploads.append(name, upload_id, stream)
        await registry.uploads.finish(name, upload_id, digest)
    except BaseException:
        with contextlib.suppress(RegistryError):  # a refused publish (quota) has closed it already
            registry.uploads.cancel(name, upload_id)
        raise


def refuse_writes(ctx: RequestContext) -> None:
    if ctx.registry.upstream is not None and ctx.request.method not in ("GET", "HEAD"):
        raise RegistryError(ErrorCode.UNSUPPORTED, "this registry is a read-only pull-through cache")
