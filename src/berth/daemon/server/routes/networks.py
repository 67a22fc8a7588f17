"""``/networks/…``: list, inspect, create, remove, prune, connect and disconnect, in Docker's shapes.

The networks themselves (bridges, addresses, endpoints) are ``engine/networks/``'s.
"""

from __future__ import annotations

import asyncio
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Any

from aiohttp import web

from berth.daemon.server import schema
from berth.daemon.server.filters import matches, parse_filters
from berth.daemon.server.router import ApiRouter
from berth.daemon.wiring import Services
from berth.engine.networks.service import Network, NetworkService
from berth.errors import InvalidArgument

_FILTERS = {"name", "id", "driver", "type", "scope", "label", "dangling"}


def register(router: ApiRouter, services: Services) -> None:
    handlers = _Handlers(services)
    router.get("/networks", handlers.list)
    router.post("/networks/create", handlers.create)
    router.post("/networks/prune", handlers.prune)
    router.get("/networks/{ref}", handlers.inspect)
    router.delete("/networks/{ref}", handlers.remove)
    router.post("/networks/{ref}/connect", handlers.connect)
    router.post("/networks/{ref}/disconnect", handlers.disconnect)


def _ipam_entry(
    subnet: IPv4Network | IPv6Network,
    gateway: IPv4Address | IPv6Address | None,
    ip_range: IPv4Network | IPv6Network | None,
    aux: dict[str, str],
) -> dict[str, Any]:
    entry: dict[str, Any] = {"Subnet": str(subnet)}
    if ip_range is not None:
        entry["IPRange"] = str(ip_range)
    if gateway is not None:
        entry["Gateway"] = str(gateway)
    if aux:
        entry["AuxiliaryAddresses"] = dict(aux)
    return entry


def ipam_config(network: Network) -> list[dict[str, Any]]:
    """``IPAM.Config`` in dockerd's order: the entries given at create (IPv4, then IPv6), then those
    the daemon chose (IPv4, then IPv6)."""
    given: list[dict[str, Any]] = []
    chosen: list[dict[str, Any]] = []
    if network.subnet is not None:
        entry = _ipam_entry(network.subnet, network.gateway, network.ip_range, network.aux_addresses)
        (given if network.configured_subnet else chosen).append(entry)
    if network.enable_ipv6 and network.subnet6 is not None:
        entry = _ipam_entry(network.subnet6, network.gateway6, network.ip_range6, network.aux_addresses6)
        (given if network.configured_subnet6 else chosen).append(entry)
    return given + chosen


def network_json(service: NetworkService, network: Network, *, containers: bool) -> dict[str, Any]:
    attached: dict[str, Any] = {}
    if containers:
        for container in service.members(network):
            endpoint = container.endpoints.get(network.name) or {}
            address = endpoint.get("IPAddress")
            address6 = endpoint.get("GlobalIPv6Address")
            attached[container.container_id] = {
                "Name": container.name.removeprefix("/"),
                "EndpointID": endpoint.get("EndpointID", ""),
                "MacAddress": endpoint.get("MacAddress", ""),
                "IPv4Address": f"{address}/{endpoint.get('IPPrefixLen')}" if address else "",
                "IPv6Address": f"{address6}/{endpoint.get('GlobalIPv6PrefixLen')}" if address6 else "",
            }
    return {
        "Name": network.name,
        "Id": network.network_id,
        "Created": network.created,
        "Scope": "local",
        "Driver": network.driver,
        "EnableIPv4": True,
        "EnableIPv6": network.enable_ipv6,
        "IPAM": {
            "Driver": "default",
            "Options": None if network.predefined else {},
            "Config": ipam_config(network),
        },
        "Internal": network.internal,
        "Attachable": network.attachable,
        "Ingress": False,
        "ConfigFrom": {"Network": network.config_from},
        "ConfigOnly": network.config_only,
        "Containers": attached,
        "Options": network.options,
        "Labels": network.labels,
    }


class _Handlers:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._networks = services.networks

    def _matches(self, network: Network, filters: dict[str, list[str]]) -> bool:
        for key, wanted in filters.items():
            if key not in _FILTERS:
                raise InvalidArgument(f"invalid filter '{key}'")
            if not wanted:
                continue
            if key == "name":
                ok = any(matches(w, network.name) for w in wanted)
            elif key == "id":
                ok = any(network.network_id.startswith(w) for w in wanted)
            elif key == "driver":
                ok = network.driver in wanted
            elif key == "type":
                if not set(wanted) <= {"builtin", "custom"}:
                    raise InvalidArgument(f"invalid filter: 'type'='{wanted[0]}'")
                ok = ("builtin" if network.predefined else "custom") in wanted
            elif key == "scope":
                ok = "local" in wanted
            elif key == "dangling":
                dangling = network.user_defined and not self._networks.members(network)
                ok = any((w.lower() in {"true", "1"}) == dangling for w in wanted)
            else:  # label: "key" or "key=value"
                ok = all(_label_matches(network.labels, w) for w in wanted)
            if not ok:
                return False
        return True

    async def list(self, request: web.Request) -> web.Response:
        filters = parse_filters(request.query.get("filters"))
        rows = [
            network_json(self._networks, n, containers=False)
            for n in self._networks.all()
            if self._matches(n, filters)
        ]
        return web.json_response(rows)

    async def inspect(self, request: web.Request) -> web.Response:
        network = self._networks.get(request.match_info["ref"])
        return web.json_response(network_json(self._networks, network, containers=True))

    async def create(self, request: web.Request) -> web.Response:
        body = schema.decode(await request.read(), "NetworkCreate")
        network = await asyncio.to_thread(self._networks.create, body)
        self._services.events.publish(
            "network", "create", network.network_id, {"name": network.name, "type": network.driver}
        )
        return web.json_response({"Id": network.network_id, "Warning": ""}, status=201)

    async def remove(self, request: web.Request) -> web.Response:
        network = await asyncio.to_thread(self._networks.remove, request.match_info["ref"])
        self._services.events.publish(
            "network", "destroy", network.network_id, {"name": network.name, "type": network.driver}
        )
        return web.Response(status=204)

    async def _container_change(self, request: web.Request, *, connect: bool) -> web.Response:
        kind = "NetworkConnect" if connect else "NetworkDisconnect"
        body = schema.decode(await request.read(), kind)
        ref = body.get("Container")
        if not ref or not isinstance(ref, str):
            raise InvalidArgument("no container specified")
        network = self._networks.get(request.match_info["ref"])
        container = self._services.containers.get(ref)
        async with container.lock:
            if connect:
                config = body.get("EndpointConfig") if isinstance(body.get("EndpointConfig"), dict) else {}
                await asyncio.to_thread(self._networks.connect, network.name, container, config or {})
            else:
                await asyncio.to_thread(self._networks.disconnect, network.name, container)
            container.save()
        action = "connect" if connect else "disconnect"
        self._services.events.publish(
            "network", action, network.network_id,
            {"name": network.name, "type": network.driver, "container": container.container_id},
        )  # fmt: skip
        return web.Response(status=200)

    async def connect(self, request: web.Request) -> web.Response:
        return await self._container_change(request, connect=True)

    async def disconnect(self, request: web.Request) -> web.Response:
        return await self._container_change(request, connect=False)

    async def prune(self, request: web.Request) -> web.Response:
        filters = parse_filters(request.query.get("filters"))
        deleted = []
        for network in self._networks.all():
            if network.predefined or self._networks.members(network):
                continue
            if not self._matches(network, {k: v for k, v in filters.items() if k == "label"}):
                continue
            await asyncio.to_thread(self._networks.remove, network.name)
            deleted.append(network.name)
        return web.json_response({"NetworksDeleted": deleted or None})


def _label_matches(labels: dict[str, str], wanted: str) -> bool:
    key, sep, value = wanted.partition("=")
    return key in labels and (not sep or labels[key] == value)
