"""``POST /session`` and ``POST /grpc``: BuildKit's session and gRPC endpoints. Berth builds with its
own (classic) builder and advertises ``Builder-Version: 1`` in ``/_ping``, so clients that honour it
never call these; one that does gets a clear 501 (the docker CLI reports "unable to upgrade to h2c,
received 501" and stops) instead of a 404 that reads like a wrong API path."""

from __future__ import annotations

from aiohttp import web

from berth.daemon.server.router import ApiRouter
from berth.errors import NotSupported


class BuildKitNotSupported(NotSupported):
    """A BuildKit session or gRPC call: this daemon has no BuildKit."""


async def _refuse(request: web.Request) -> web.StreamResponse:
    raise BuildKitNotSupported(
        "BuildKit is not supported by this daemon: build with the classic builder (DOCKER_BUILDKIT=0)"
    )


def register(router: ApiRouter) -> None:
    router.post("/session", _refuse)
    router.post("/grpc", _refuse)
