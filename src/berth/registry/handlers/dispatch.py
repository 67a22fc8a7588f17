"""The /v2/ dispatcher: match the route table, authenticate, authorise, call the handler, and turn
every BerthError into the OCI error envelope in one place."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from berth.errors import BerthError
from berth.registry.api import routes
from berth.registry.api.errors import ErrorCode, RegistryError, error_response, from_berth_error
from berth.registry.api.routes import RouteName
from berth.registry.handlers import blobs, manifests, pullthrough, tags, uploads
from berth.registry.handlers.context import REGISTRY_KEY, RequestContext, authenticate, unauthorized

log = logging.getLogger(__name__)

Handler = Callable[..., Awaitable[web.StreamResponse]]


async def _base(ctx: RequestContext) -> web.StreamResponse:
    if not ctx.identity.authenticated:
        raise unauthorized(ctx.registry, ctx.request)
    return web.json_response({})


HANDLERS: dict[tuple[RouteName, str], Handler] = {
    (RouteName.BASE, "GET"): _base,
    (RouteName.BASE, "HEAD"): _base,
    (RouteName.CATALOG, "GET"): tags.catalog,
    (RouteName.TAGS, "GET"): tags.list_tags,
    (RouteName.MANIFEST, "GET"): manifests.get_manifest,
    (RouteName.MANIFEST, "HEAD"): manifests.get_manifest,
    (RouteName.MANIFEST, "PUT"): manifests.put_manifest,
    (RouteName.MANIFEST, "DELETE"): manifests.delete_manifest,
    (RouteName.BLOB, "GET"): blobs.get_blob,
    (RouteName.BLOB, "HEAD"): blobs.get_blob,
    (RouteName.BLOB, "DELETE"): blobs.delete_blob,
    (RouteName.UPLOAD_START, "POST"): uploads.start_upload,
    (RouteName.UPLOAD, "GET"): uploads.upload_status,
    (RouteName.UPLOAD, "PATCH"): uploads.patch_upload,
    (RouteName.UPLOAD, "PUT"): uploads.put_upload,
    (RouteName.UPLOAD, "DELETE"): uploads.cancel_upload,
    (RouteName.REFERRERS, "GET"): tags.referrers,
}


async def handle_v2(request: web.Request) -> web.StreamResponse:
    registry = request.app[REGISTRY_KEY]
    head = request.method == "HEAD"
    try:
        matched = routes.match(request.path)
        if matched is None:
            bad = routes.invalid_name(request.path)
            if bad is not None:
                raise RegistryError(ErrorCode.NAME_INVALID, detail={"name": bad})
            raise RegistryError(ErrorCode.UNSUPPORTED, f"no route for {request.path}", status=404)
        route, params = matched
        if request.method not in route.methods:
            raise RegistryError(ErrorCode.UNSUPPORTED, f"{request.method} is not allowed here")
        ctx = RequestContext(registry, request, authenticate(registry, request))
        if route.name not in (RouteName.BASE, RouteName.CATALOG):
            pullthrough.refuse_writes(ctx)
        action = route.methods[request.method]
        if action is not None:
            ctx.require(params["name"], action)
        response = await HANDLERS[(route.name, request.method)](ctx, **params)
    except BerthError as err:
        registry_error = from_berth_error(err)
        if registry_error.code == ErrorCode.UNKNOWN:
            log.error("%s %s failed: %s", request.method, request.path, err)
        response = error_response(registry_error, head=head)
    response.headers["Docker-Distribution-Api-Version"] = "registry/2.0"
    return response


def add_routes(app: web.Application, **_: Any) -> None:
    app.router.add_route("*", "/v2", handle_v2)
    app.router.add_route("*", "/v2/{tail:.*}", handle_v2)
