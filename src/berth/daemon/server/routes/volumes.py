"""``/volumes/…``: list, create, inspect, remove, prune — Docker's shapes over ``VolumeService``."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from berth.api.versions import parse as parse_version
from berth.daemon.server import schema
from berth.daemon.server.filters import parse_filters
from berth.daemon.server.router import ApiRouter
from berth.engine.events import EventBus
from berth.engine.volumes import VolumeService
from berth.errors import InvalidArgument, Unavailable

_PRUNE_ALL_BEFORE = (1, 42)  # older clients expect prune to take named volumes too (Docker < 23)
_CLUSTER_VOLUMES = (1, 42)  # ClusterVolumeSpec is read from this version on (older ones ignore it)
_NO_SWARM = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect '
    "this node to swarm and try again."
)


def register(router: ApiRouter, volumes: VolumeService, *, events: EventBus) -> None:
    handlers = _Handlers(volumes, events)
    router.get("/volumes", handlers.list)
    router.post("/volumes/create", handlers.create)
    router.post("/volumes/prune", handlers.prune)
    router.get("/volumes/{name}", handlers.inspect)
    router.delete("/volumes/{name}", handlers.remove)
    router.put("/volumes/{name}", handlers.update)


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in {"1", "true", "yes"}


def _string_map(value: Any, field: str) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidArgument(f"invalid {field}: expected an object")
    return {str(k): str(v) for k, v in value.items()}


class _Handlers:
    def __init__(self, volumes: VolumeService, events: EventBus) -> None:
        self._volumes = volumes
        self._events = events

    async def list(self, request: web.Request) -> web.Response:
        filters = parse_filters(request.query.get("filters"))
        found = await asyncio.to_thread(self._volumes.list, filters)
        return web.json_response({"Volumes": found, "Warnings": None})

    async def create(self, request: web.Request) -> web.Response:
        body = schema.decode(await request.read(), "VolumeCreate")
        name = body.get("Name") or ""
        if not isinstance(name, str):
            raise InvalidArgument("invalid Name: expected a string")
        version = request.match_info.get("api_version")
        cluster = body.get("ClusterVolumeSpec") is not None
        if cluster and (not version or parse_version(version) >= _CLUSTER_VOLUMES):
            raise Unavailable(_NO_SWARM)  # cluster volumes live in a swarm, which Berth never is
        driver = body.get("Driver") or "local"
        if not isinstance(driver, str):
            raise InvalidArgument("invalid Driver: expected a string")
        existed = bool(name) and self._volumes.exists(name)
        volume = await asyncio.to_thread(
            self._volumes.create,
            name,
            driver=driver,
            labels=_string_map(body.get("Labels"), "Labels"),
            options=_string_map(body.get("DriverOpts"), "DriverOpts"),
        )
        if not existed:
            self._events.publish("volume", "create", volume["Name"], {"driver": volume["Driver"]})
        return web.json_response(volume, status=201)

    async def inspect(self, request: web.Request) -> web.Response:
        return web.json_response(await asyncio.to_thread(self._volumes.get, request.match_info["name"]))

    async def remove(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        existed = self._volumes.exists(name)
        await asyncio.to_thread(self._volumes.remove, name, force=_flag(request, "force"))
        if existed:
            self._events.publish("volume", "destroy", name, {"driver": "local"})
        return web.Response(status=204)

    async def update(self, request: web.Request) -> web.Response:
        """``PUT /volumes/{name}``: only cluster volumes can be updated, and there is no swarm here."""
        raise Unavailable("volume update only valid for cluster volumes, but swarm is unavailable")

    async def prune(self, request: web.Request) -> web.Response:
        filters = parse_filters(request.query.get("filters"))
        version = request.match_info.get("api_version")
        if version and parse_version(version) < _PRUNE_ALL_BEFORE:
            filters.setdefault("all", ["true"])
        removed, reclaimed = await asyncio.to_thread(self._volumes.prune, filters)
        for name in removed:
            self._events.publish("volume", "destroy", name, {"driver": "local"})
        return web.json_response({"VolumesDeleted": removed or None, "SpaceReclaimed": reclaimed})
