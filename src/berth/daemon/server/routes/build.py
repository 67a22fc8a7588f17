"""``POST /build``: the classic builder's API (the docker CLI with ``DOCKER_BUILDKIT=0``, ``berth build``,
docker-py's ``images.build``). The body is the context tar; the answer Docker's JSON progress stream."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from berth.api.auth import decode_header
from berth.daemon.server.bodies import BodyReader
from berth.daemon.server.filters import json_object, query_bool
from berth.daemon.server.router import ApiRouter
from berth.daemon.server.routes.distribution import ProgressStream
from berth.daemon.wiring import Services
from berth.engine.builder.builder import BuildOptions, BuildService, decode_auths
from berth.errors import InvalidArgument


def register(router: ApiRouter, services: Services) -> None:
    router.post("/build", _Handler(services.build).build)


def _string_map(request: web.Request, key: str) -> dict[str, str]:
    value = json_object(request.query.get(key), key)
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


class _Handler:
    def __init__(self, builder: BuildService) -> None:
        self._builder = builder

    async def build(self, request: web.Request) -> web.StreamResponse:
        header = request.headers.get("X-Registry-Config", "")
        try:
            auths: dict[str, Any] = decode_auths(decode_header(header)) if header else {}
        except ValueError as exc:
            raise InvalidArgument(f"invalid X-Registry-Config: {exc}") from exc
        if request.query.get("remote"):
            raise InvalidArgument("building from a remote context (git, URL) is not supported")
        options = BuildOptions(
            tags=[t for t in request.query.getall("t", []) if t],
            dockerfile=request.query.get("dockerfile", "") or "Dockerfile",
            build_args=_string_map(request, "buildargs"),
            labels=_string_map(request, "labels"),
            target=request.query.get("target", ""),
            quiet=query_bool(request, "q"),
            no_cache=query_bool(request, "nocache"),
            pull=query_bool(request, "pull"),
            platform=request.query.get("platform", ""),
            network_mode=request.query.get("networkmode", ""),
            registry_auths=auths,
        )
        body = BodyReader(request, asyncio.get_running_loop())

        async def work(stream: ProgressStream) -> None:
            await self._builder.build(body, options, stream.send)  # type: ignore[arg-type]  # duck-typed

        return await ProgressStream(request).run(work)
