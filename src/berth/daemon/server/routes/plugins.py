"""Managed-plugin endpoints, answered as dockerd 28 with no plugin installed: ``GET /plugins`` is
``[]``, every named plugin is 404 ``plugin "X" not found``. Installing (``/plugins/pull``,
``/plugins/privileges``) resolves the reference through the registry, as dockerd does, and fails as
dockerd does when it cannot be fetched; a reference that does resolve is refused (501): Berth runs no
plugins. ``/plugins/create`` is refused the same way.
"""

from __future__ import annotations

from aiohttp import web

from berth.daemon.server.router import ApiRouter
from berth.daemon.server.routes.distribution_inspect import RemoteInspector
from berth.errors import BerthError, InvalidArgument, NotFound, NotSupported


class PluginNotFound(NotFound):
    """No plugin of that name or ID (none is ever installed: Berth has no plugin manager)."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f'plugin "{name}" not found')


class PluginsNotSupported(NotSupported):
    """Installing or creating a managed plugin: Berth does not run Docker plugins."""


async def _list(request: web.Request) -> web.StreamResponse:
    return web.json_response([])


async def _named(request: web.Request) -> web.StreamResponse:
    raise PluginNotFound(request.match_info["name"])


async def _create(request: web.Request) -> web.StreamResponse:
    name = request.query.get("name", "")
    raise PluginsNotSupported(f"Berth does not support managed plugins: cannot create plugin {name!r}")


class _Installer:
    def __init__(self, inspector: RemoteInspector) -> None:
        self._inspector = inspector

    async def install(self, request: web.Request) -> web.StreamResponse:
        remote = request.query.get("remote", "")
        if not remote:
            raise InvalidArgument("remote is required")  # moby: "invalid reference format" family
        try:
            await self._inspector.inspect(request, remote)
        except BerthError as exc:
            message = str(exc)
            if isinstance(exc, NotFound):
                message = f"pull access denied, repository does not exist or may require authorization: {exc}"
            raise type(exc)(f"error resolving plugin reference: {message}") from exc
        raise PluginsNotSupported(
            f"Berth does not support managed plugins: {remote} resolves, but cannot be installed"
        )


def register(router: ApiRouter, inspector: RemoteInspector) -> None:
    installer = _Installer(inspector)
    router.get("/plugins", _list)
    router.get("/plugins/privileges", installer.install)
    router.post("/plugins/pull", installer.install)
    router.post("/plugins/create", _create)
    router.get("/plugins/{name:.+}/json", _named)
    router.delete("/plugins/{name:.+}", _named)
    for verb in ("enable", "disable", "push", "set", "upgrade"):
        router.post(f"/plugins/{{name:.+}}/{verb}", _named)
