"""Manifest GET/HEAD (with Accept negotiation), PUT (by tag or digest, ``?tag=`` extras) and DELETE."""

from __future__ import annotations

import json

from aiohttp import web

from berth.oci import mediatypes as mt
from berth.registry import digests
from berth.registry.api.errors import ErrorCode, RegistryError
from berth.registry.handlers import events, pullthrough
from berth.registry.handlers.context import RequestContext
from berth.registry.manifests import MAX_MANIFEST_BYTES, StoredManifest
from berth.registry.notify.envelope import Target


def _accepted(request: web.Request) -> set[str]:
    types: set[str] = set()
    for value in request.headers.getall("Accept", []):
        for part in value.split(","):
            media = part.split(";", 1)[0].strip()
            if media:
                types.add(media)
    return types


def _negotiate(ctx: RequestContext, name: str, reference: str, stored: StoredManifest) -> StoredManifest:
    """What distribution does: an index for a client that takes no indexes becomes its linux/amd64
    manifest; an OCI manifest asked for by tag by a client that takes only Docker types is unknown."""
    accepted = _accepted(ctx.request)
    if not accepted or "*/*" in accepted or stored.media_type in accepted or digests.is_reference(reference):
        return stored
    if stored.media_type in mt.INDEXES:
        index = json.loads(ctx.registry.manifests.content(stored))
        for child in index.get("manifests", []):
            platform = child.get("platform") or {}
            if platform.get("os") == "linux" and platform.get("architecture") == "amd64":
                candidate = ctx.registry.manifests.resolve(name, str(child.get("digest")))
                if candidate.media_type in accepted:
                    return candidate
        return stored
    if stored.media_type == mt.OCI_MANIFEST and mt.DOCKER_MANIFEST in accepted:
        raise RegistryError(
            ErrorCode.MANIFEST_UNKNOWN, "OCI manifest found, but accept header does not support OCI manifests"
        )
    return stored


async def get_manifest(ctx: RequestContext, name: str, reference: str) -> web.StreamResponse:
    await pullthrough.refresh_manifest(ctx, name, reference)
    ctx.require_visible(name)
    stored = _negotiate(ctx, name, reference, ctx.registry.manifests.resolve(name, reference))
    headers = {
        "Docker-Content-Digest": stored.digest,
        "Content-Type": stored.media_type,
        "ETag": f'"{stored.digest}"',
    }
    if ctx.request.method == "HEAD":
        headers["Content-Length"] = str(stored.size)
        return web.Response(status=200, headers=headers)
    body = ctx.registry.manifests.content(stored)
    tag = "" if digests.is_reference(reference) else reference
    ctx.registry.hub.pulls.record(name, tag or None)
    events.publish(ctx, "pull", Target(name, stored.digest, stored.media_type, stored.size, tag))
    return web.Response(status=200, body=body, headers=headers)


async def _whole_body(request: web.Request, limit: int) -> bytes:
    """The request's body, all of it (one ``read(n)`` returns only what is buffered so far), or 413
    SIZE_INVALID once it passes ``limit``."""
    too_large = RegistryError(ErrorCode.SIZE_INVALID, f"manifest over {limit} bytes", status=413)
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def put_manifest(ctx: RequestContext, name: str, reference: str) -> web.StreamResponse:
    request = ctx.request
    data = await _whole_body(request, MAX_MANIFEST_BYTES)
    ctx.registry.repos.ensure(name)
    extra_tags = request.query.getall("tag", []) if digests.is_reference(reference) else []
    content_type = request.headers.get("Content-Type")
    digest = ctx.registry.manifests.put(name, reference, data, content_type, list(extra_tags))
    ctx.registry.hub.pushed(name, data, content_type)
    headers = {
        "Location": f"/v2/{name}/manifests/{digest}",
        "Docker-Content-Digest": digest,
        "Content-Length": "0",
    }
    parsed_subject = json.loads(data).get("subject")
    if isinstance(parsed_subject, dict) and parsed_subject.get("digest"):
        headers["OCI-Subject"] = str(parsed_subject["digest"])
    ctx.audit(
        "push",
        f"{name}:{reference}" if not digests.is_reference(reference) else f"{name}@{reference}",
        digest=digest,
    )
    stored = ctx.registry.manifests.resolve(name, digest)
    tag = next(iter(extra_tags), "") if digests.is_reference(reference) else reference
    events.publish(ctx, "push", Target(name, digest, stored.media_type, stored.size, tag))
    response = web.Response(status=201, headers=headers)
    for tag in extra_tags:
        response.headers.add("OCI-Tag", tag)
    return response


def _deleted(ctx: RequestContext, name: str, reference: str) -> Target:
    """The delete event's target: the digest, or the tag and the manifest it pointed at."""
    if digests.is_reference(reference):
        return Target(name, reference)
    try:
        stored = ctx.registry.manifests.resolve(name, reference)
    except RegistryError:  # no such tag (delete answers it) or a dangling one
        return Target(name, "", tag=reference)
    return Target(name, stored.digest, stored.media_type, stored.size, reference)


def delete_reference(ctx: RequestContext, name: str, reference: str) -> Target:
    """Delete a tag, or a manifest by digest, for a caller already allowed to: the one path both
    ``DELETE /v2/NAME/manifests/REF`` and the web page's delete button take (event and audit included).
    What becomes unreferenced stays in storage until the next gc."""
    ctx.require_visible(name)
    target = _deleted(ctx, name, reference)
    ctx.registry.manifests.delete(name, reference)
    events.publish(ctx, "delete", target)
    ctx.audit(
        "delete", f"{name}:{reference}" if not digests.is_reference(reference) else f"{name}@{reference}"
    )
    return target


async def delete_manifest(ctx: RequestContext, name: str, reference: str) -> web.StreamResponse:
    delete_reference(ctx, name, reference)
    return web.Response(status=202, headers={"Content-Length": "0"})
