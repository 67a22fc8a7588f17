"""``/networks/…``: the predefined networks Berth has today, read-only, in Docker's shapes.

Berth runs containers in their own network namespace with only loopback (``none``) or in the host's
(``host``). Bridge networks and user-defined networks are a later issue: creating one answers
NotSupported, and removing a predefined one answers Docker's Forbidden error.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from aiohttp import web

from berth.daemon.server.filters import parse_filters
from berth.daemon.server.router import ApiRouter
from berth.daemon.wiring import Services
from berth.errors import Forbidden, InvalidArgument, NotFound, NotSupported

_PREDEFINED = {"none": "null", "host": "host"}  # name → driver
_FILTERS = {"name", "id", "driver", "type", "scope", "label", "dangling"}
_NOT_YET = (
    "creating networks is not supported yet: Berth has only the predefined 'host' and 'none' "
    "networks (bridge networking comes later)"
)


def register(router: ApiRouter, services: Services) -> None:
    handlers = _Handlers(services)
    router.get("/networks", handlers.list)
    router.post("/networks/create", handlers.create)
    router.post("/networks/prune", handlers.prune)
    router.get("/networks/{ref}", handlers.inspect)
    router.delete("/networks/{ref}", handlers.remove)
    router.post("/networks/{ref}/connect", handlers.connect)
    router.post("/networks/{ref}/disconnect", handlers.connect)


class _Handlers:
    def __init__(self, services: Services) -> None:
        self._services = services
        try:  # when this daemon root was first used: as stable as Docker's creation time of its networks
            created = (services.config.data_root / "daemon-id").stat().st_mtime
        except OSError:
            created = time.time()
        self._created = time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime(created))

    def _network_id(self, name: str) -> str:
        # Stable per daemon (Docker keeps random ids in its store; Berth derives them, nothing to store).
        return hashlib.sha256(f"{self._services.daemon_id}\0network\0{name}".encode()).hexdigest()

    def _attached(self, name: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for container in self._services.containers.all():
            if (container.host_config.get("NetworkMode") or "default") != name:
                continue
            if not container.status.is_alive():
                continue  # Docker lists endpoints, which exist only while the container runs
            out[container.container_id] = {
                "Name": container.name.removeprefix("/"),
                "EndpointID": "",
                "MacAddress": "",
                "IPv4Address": "",
                "IPv6Address": "",
            }
        return out

    def _network(self, name: str, *, containers: bool) -> dict[str, Any]:
        return {
            "Name": name,
            "Id": self._network_id(name),
            "Created": self._created,
            "Scope": "local",
            "Driver": _PREDEFINED[name],
            "EnableIPv4": True,
            "EnableIPv6": False,
            "IPAM": {"Driver": "default", "Options": None, "Config": []},
            "Internal": False,
            "Attachable": False,
            "Ingress": False,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": False,
            "Containers": self._attached(name) if containers else {},
            "Options": {},
            "Labels": {},
        }

    def _find(self, ref: str) -> str:
        """Docker's lookup: full name, then full id, then a unique id prefix."""
        if ref in _PREDEFINED:
            return ref
        for name in _PREDEFINED:
            if self._network_id(name) == ref:
                return name
        matches = [name for name in _PREDEFINED if ref and self._network_id(name).startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        raise NotFound(f"network {ref} not found")

    def _matches(self, network: dict[str, Any], filters: dict[str, list[str]]) -> bool:
        for key, wanted in filters.items():
            if key not in _FILTERS:
                raise InvalidArgument(f"invalid filter '{key}'")
            if not wanted:
                continue
            if key == "name":
                ok = any(w in network["Name"] for w in wanted)
            elif key == "id":
                ok = any(network["Id"].startswith(w) for w in wanted)
            elif key == "driver":
                ok = network["Driver"] in wanted
            elif key == "type":
                if not set(wanted) <= {"builtin", "custom"}:
                    raise InvalidArgument(f"invalid filter: 'type'='{wanted[0]}'")
                ok = "builtin" in wanted  # every network Berth has is predefined
            elif key == "scope":
                ok = "local" in wanted
            elif key == "dangling":
                ok = any(w.lower() in {"false", "0"} for w in wanted)  # predefined ones never dangle
            else:  # label: predefined networks have none
                ok = False
            if not ok:
                return False
        return True

    async def list(self, request: web.Request) -> web.Response:
        filters = parse_filters(request.query.get("filters"))
        rows = [self._network(name, containers=False) for name in _PREDEFINED]
        return web.json_response([row for row in rows if self._matches(row, filters)])

    async def inspect(self, request: web.Request) -> web.Response:
        return web.json_response(self._network(self._find(request.match_info["ref"]), containers=True))

    async def create(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError as exc:
            raise InvalidArgument(f"invalid JSON: {exc}") from exc
        name = body.get("Name") if isinstance(body, dict) else None
        if not name or not isinstance(name, str):
            raise InvalidArgument("network name cannot be empty")
        if name in _PREDEFINED:
            raise Forbidden(f"operation is not permitted on predefined {name} network ")
        raise NotSupported(_NOT_YET)

    async def remove(self, request: web.Request) -> web.Response:
        name = self._find(request.match_info["ref"])
        raise Forbidden(f"{name} is a pre-defined network and cannot be removed")

    async def connect(self, request: web.Request) -> web.Response:
        self._find(request.match_info["ref"])
        raise NotSupported(
            "connecting containers to networks is not supported yet: a container joins 'host' or "
            "'none' with --network when it is created"
        )

    async def prune(self, request: web.Request) -> web.Response:
        parse_filters(request.query.get("filters"))
        return web.json_response({"NetworksDeleted": None})  # predefined networks are never pruned
