"""Swarm-mode endpoints, answered as dockerd 28 answers them on a node that is in no swarm (Berth has
no swarm mode): ``/swarm*``, ``/nodes*``, ``/services*``, ``/tasks*``, ``/secrets*``, ``/configs*`` and
cluster-volume updates (``PUT /volumes/{name}``).

Errors and statuses are moby's (``daemon/cluster/errors.go``, ``errNoManager``): 503 "This node is not
a swarm manager. Use "docker swarm init" …" for every manager call, 503 "This node is not part of a
swarm" for ``POST /swarm/leave``; ``swarm init``/``join`` are refused (501): Berth cannot form a swarm.
"""

from __future__ import annotations

from aiohttp import web

from berth.daemon.server.router import ApiRouter
from berth.errors import NotSupported, Unavailable

NOT_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this '
    "node to swarm and try again."
)
NOT_IN_SWARM = "This node is not part of a swarm"


class NoSwarm(Unavailable):
    """A swarm-manager request on this node, which is in no swarm (always: Berth has no swarm mode)."""


class SwarmNotSupported(NotSupported):
    """``swarm init``/``join``: Berth cannot create or join a swarm. The caller asked for swarm mode."""


async def _not_manager(request: web.Request) -> web.StreamResponse:
    raise NoSwarm(NOT_MANAGER)


async def _leave(request: web.Request) -> web.StreamResponse:
    raise NoSwarm(NOT_IN_SWARM)


async def _init_or_join(request: web.Request) -> web.StreamResponse:
    verb = "join" if request.path.rstrip("/").endswith("/join") else "init"
    raise SwarmNotSupported(
        f"Berth has no swarm mode: cannot {verb} a swarm (containers, networks and volumes work on this "
        "node alone)"
    )


async def _volume_update(request: web.Request) -> web.StreamResponse:
    raise NoSwarm("volume update only valid for cluster volumes, but swarm is unavailable")


def register(router: ApiRouter) -> None:
    router.get("/swarm", _not_manager)
    router.post("/swarm/init", _init_or_join)
    router.post("/swarm/join", _init_or_join)
    router.post("/swarm/leave", _leave)
    router.post("/swarm/update", _not_manager)
    router.get("/swarm/unlockkey", _not_manager)
    router.post("/swarm/unlock", _not_manager)  # moby: errNoManager unless the swarm is locked
    router.put("/volumes/{name}", _volume_update)
    for kind in ("nodes", "services", "tasks", "secrets", "configs"):
        router.get(f"/{kind}", _not_manager)
        router.get(f"/{kind}/{{id}}", _not_manager)
        if kind != "tasks":
            router.delete(f"/{kind}/{{id}}", _not_manager)
            router.post(f"/{kind}/{{id}}/update", _not_manager)
        if kind in ("services", "secrets", "configs"):
            router.post(f"/{kind}/create", _not_manager)
        if kind in ("services", "tasks"):
            router.get(f"/{kind}/{{id}}/logs", _not_manager)
