"""The hub's JSON API under ``/api/v1/``, with the same authentication and answers as ``/v2/``:

    GET    /api/v1/repositories/NAME        the hub record (whoever may pull it)
    PUT    /api/v1/repositories/NAME        {"description": …, "readme": …} (whoever may delete in it:
                                            its owners and admins, as Docker Hub lets only them edit)
    PUT    /api/v1/repositories/NAME/star   star it (a signed-in user who may pull it)
    DELETE /api/v1/repositories/NAME/star   take the star back

A private repository the caller may not pull answers exactly as a missing one (``context``'s table).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from aiohttp import web

from berth.errors import BerthError, InvalidArgument
from berth.registry.api import routes
from berth.registry.api.errors import ErrorCode, RegistryError, error_response, from_berth_error
from berth.registry.auth.acl import DELETE, PULL
from berth.registry.handlers.context import REGISTRY_KEY, RequestContext, authenticate, unauthorized

log = logging.getLogger(__name__)

# ``/star`` at the end is always the star resource (a repository whose last component is "star" has
# no hub record here, as on Docker Hub).
_PATH = re.compile(r"^/api/v1/repositories/(?P<name>.+?)(?P<star>/star)?/?$")
_NAME = re.compile(rf"^{routes.NAME}$")
_METHODS = {False: ("GET", "PUT"), True: ("PUT", "DELETE")}
_FIELDS = ("description", "readme")
_MAX_BODY = 64 << 10


async def handle(request: web.Request) -> web.StreamResponse:
    registry = request.app[REGISTRY_KEY]
    try:
        matched = _PATH.match(request.path)
        if matched is None:
            raise RegistryError(ErrorCode.UNSUPPORTED, f"no route for {request.path}", status=404)
        name, star = matched.group("name"), matched.group("star") is not None
        if not _NAME.match(name):
            raise RegistryError(ErrorCode.NAME_INVALID, detail={"name": name})
        if request.method not in _METHODS[star]:
            raise RegistryError(ErrorCode.UNSUPPORTED, f"{request.method} is not allowed here")
        ctx = RequestContext(registry, request, authenticate(registry, request))
        if star:
            return await _star(ctx, name)
        if request.method == "PUT":
            return await _describe(ctx, name)
        ctx.require(name, PULL)
        return _record(ctx, name)
    except BerthError as err:
        registry_error = from_berth_error(err)
        if registry_error.code == ErrorCode.UNKNOWN:
            log.error("%s %s failed: %s", request.method, request.path, err)
        return error_response(registry_error)


def _record(ctx: RequestContext, name: str) -> web.StreamResponse:
    ctx.require_visible(name)
    info = ctx.registry.repos.get(name)
    assert info is not None  # require_visible
    user = ctx.identity.user
    return web.json_response(ctx.registry.hub.record(info, viewer=user.name if user else None))


async def _describe(ctx: RequestContext, name: str) -> web.StreamResponse:
    ctx.require(name, PULL)  # first, so that a private repository is missing, not forbidden
    ctx.require_visible(name)
    ctx.require(name, DELETE)
    fields = await _json_object(ctx.request)
    unknown = sorted(set(fields) - set(_FIELDS))
    if unknown:
        raise InvalidArgument(f"unknown field(s) {', '.join(unknown)}: only description and readme")
    values: dict[str, str | None] = {}
    for key in _FIELDS:
        value = fields.get(key)
        if value is not None and not isinstance(value, str):
            raise InvalidArgument(f"{key} must be a string")
        values[key] = value
    ctx.registry.hub.descriptions.set(name, values["description"], values["readme"])
    ctx.audit("describe", name, fields=",".join(k for k in _FIELDS if values[k] is not None))
    return _record(ctx, name)


async def _star(ctx: RequestContext, name: str) -> web.StreamResponse:
    ctx.require(name, PULL)
    ctx.require_visible(name)
    user = ctx.identity.user
    if user is None:
        raise unauthorized(ctx.registry, ctx.request, f"repository:{name}:pull", "sign in to star")
    if ctx.request.method == "PUT":
        ctx.registry.hub.stars.star(name, user.name)
    else:
        ctx.registry.hub.stars.unstar(name, user.name)
    return web.json_response(
        {"starred": ctx.request.method == "PUT", "star_count": ctx.registry.hub.stars.count(name)}
    )


async def _json_object(request: web.Request) -> dict[str, Any]:
    data = await request.content.read(_MAX_BODY + 1)
    if len(data) > _MAX_BODY:
        raise RegistryError(ErrorCode.SIZE_INVALID, f"body over {_MAX_BODY} bytes", status=413)
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidArgument(f"the body is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise InvalidArgument('the body must be a JSON object: {"description": …, "readme": …}')
    return doc


def add_routes(app: web.Application) -> None:
    app.router.add_route("*", "/api/v1/{tail:.*}", handle)
