"""Registers each route twice: unversioned (``/containers/json``) and versioned (``/v1.50/containers/json``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_VERSION_PREFIX = r"/v{api_version:[0-9]+\.[0-9]+}"


class ApiRouter:
    def __init__(self, app: web.Application) -> None:
        self._router = app.router

    def add(self, method: str, path: str, handler: Handler) -> None:
        self._router.add_route(method, path, handler)
        self._router.add_route(method, _VERSION_PREFIX + path, handler)

    def get(self, path: str, handler: Handler) -> None:
        self.add("GET", path, handler)
        self.add("HEAD", path, handler)

    def post(self, path: str, handler: Handler) -> None:
        self.add("POST", path, handler)

    def put(self, path: str, handler: Handler) -> None:
        self.add("PUT", path, handler)

    def delete(self, path: str, handler: Handler) -> None:
        self.add("DELETE", path, handler)
