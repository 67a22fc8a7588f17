"""Tag lists (``n``/``last`` with ``Link``), the catalog (only what the caller may pull) and referrers."""

from __future__ import annotations

import json
from urllib.parse import quote

from aiohttp import web

from berth.oci import mediatypes as mt
from berth.registry import digests
from berth.registry.api.errors import ErrorCode, RegistryError
from berth.registry.handlers.context import RequestContext

_MAX_PAGE = 10000
_CATALOG_BATCH = 500


def _page_size(ctx: RequestContext) -> int | None:
    value = ctx.request.query.get("n")
    if value is None or value == "":
        return None
    try:
        n = int(value)
    except ValueError as exc:
        raise RegistryError(
            ErrorCode.UNSUPPORTED, f"n must be an integer, not {value!r}", status=400
        ) from exc
    if n < 0:
        raise RegistryError(ErrorCode.UNSUPPORTED, "n must not be negative", status=400)
    return min(n, _MAX_PAGE)


def _json(body: object, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=json.dumps(body).encode(), content_type="application/json", headers=headers)


async def list_tags(ctx: RequestContext, name: str) -> web.StreamResponse:
    ctx.require_visible(name)
    n = _page_size(ctx)
    last = ctx.request.query.get("last")
    if n == 0:
        return _json({"name": name, "tags": []})
    tags = ctx.registry.manifests.tags(name, last=last, limit=None if n is None else n + 1)
    headers = {}
    if n is not None and len(tags) > n:
        tags = tags[:n]
        headers["Link"] = f'</v2/{name}/tags/list?n={n}&last={quote(tags[-1])}>; rel="next"'
    return _json({"name": name, "tags": tags}, headers)


async def catalog(ctx: RequestContext) -> web.StreamResponse:
    n = _page_size(ctx)
    last = ctx.request.query.get("last") or ""
    # Filtered by the caller's live access, not the token's scopes: a catalog token names no repository.
    # Read in batches from ``last`` on (an index range), so a page costs the same at the start and at
    # the end of the catalog, and stop once a page and one more are found (to know a next page exists).
    user = ctx.identity.user
    want = None if n is None else n + 1
    visible: list[str] = []
    while want is None or len(visible) < want:
        batch = ctx.registry.repos.page(last, _CATALOG_BATCH)
        visible += [r.name for r in batch if ctx.registry.policy.can_pull(user, r)]
        if len(batch) < _CATALOG_BATCH:
            break
        last = batch[-1].name
    headers = {}
    if n is not None and len(visible) > n:
        visible = visible[:n]
        headers["Link"] = f'</v2/_catalog?n={n}&last={quote(visible[-1])}>; rel="next"'
    return _json({"repositories": visible}, headers)


async def referrers(ctx: RequestContext, name: str, digest: str) -> web.StreamResponse:
    digests.require(digest)
    # No 404 here (the spec): a repository not pushed to yet, or a digest nothing refers to, has an
    # empty index. Who may not pull the repository was answered before (as for any pull).
    artifact_type = ctx.request.query.get("artifactType")
    index = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": ctx.registry.manifests.referrers(name, digest, artifact_type),
    }
    response = web.Response(body=json.dumps(index).encode(), headers={"Content-Type": mt.OCI_INDEX})
    if artifact_type:
        response.headers["OCI-Filters-Applied"] = "artifactType"
    return response
