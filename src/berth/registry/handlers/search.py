"""Docker Hub's v1 search (``GET /v1/search?q=&n=&page=``) and ``/v1/_ping``, as ``docker search`` uses."""

from __future__ import annotations

import math

from aiohttp import web

from berth.errors import Unauthorized
from berth.registry.api.errors import from_berth_error
from berth.registry.handlers.context import REGISTRY_KEY, authenticate

_DEFAULT_N = 25
_MAX_N = 100


def _int(value: str | None, default: int, low: int, high: int) -> int:
    try:
        number = int(value) if value else default
    except ValueError:
        number = default
    return max(low, min(high, number))


async def ping(request: web.Request) -> web.StreamResponse:
    return web.json_response({"standalone": True}, headers={"X-Docker-Registry-Standalone": "true"})


async def search(request: web.Request) -> web.StreamResponse:
    registry = request.app[REGISTRY_KEY]
    try:
        identity = authenticate(registry, request)
    except Unauthorized as exc:
        err = from_berth_error(exc)
        return web.json_response({"errors": [{"code": err.code.value, "message": err.message}]}, status=401)
    query = request.query.get("q", "")
    n = _int(request.query.get("n"), _DEFAULT_N, 1, _MAX_N)
    page = _int(request.query.get("page"), 1, 1, 1 << 30)
    user = identity.user
    popularity = registry.hub.popularity()
    found = registry.repos.search(query, lambda info: registry.policy.can_pull(user, info), popularity)
    chunk = found[(page - 1) * n : page * n]
    return web.json_response(
        {
            "query": query,
            "num_results": len(found),
            "num_pages": max(1, math.ceil(len(found) / n)),
            "page": page,
            "page_size": n,
            "results": [
                {
                    "name": repo.name,
                    "description": repo.description,
                    "star_count": popularity.get(repo.name, (0, 0))[0],
                    "pull_count": popularity.get(repo.name, (0, 0))[1],
                    "is_official": False,
                    "is_automated": False,
                    "is_private": repo.visibility == "private",
                }
                for repo in chunk
            ],
        }
    )
