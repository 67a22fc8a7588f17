"""Builds the aiohttp application: middlewares, then every resource's routes."""

from __future__ import annotations

from aiohttp import web

from berth.daemon.server import middleware
from berth.daemon.server.router import ApiRouter
from berth.daemon.server.routes import (
    archive,
    build,
    containers,
    distribution,
    distribution_inspect,
    exec,
    images,
    networks,
    plugins,
    session,
    swarm,
    system,
    volumes,
)
from berth.daemon.wiring import Services

MAX_REQUEST_BODY = 1 << 40  # image tarballs stream through; handlers read bodies incrementally
# X-Registry-Config carries every login the client has (docker-py sends them all with a build): a
# header of a few KB per dozen registries. Go's server, dockerd's, allows 1 MB of headers.
MAX_HEADER_FIELD = 1 << 20
# a body is read in pieces of up to this much: 64 KB (aiohttp's default) made a 200 MB build context
# 3,500 trips through the event loop (~0.2 s of the upload)
READ_BUFFER = 1 << 20


def make_app(services: Services) -> web.Application:
    app = web.Application(
        middlewares=[middleware.headers_and_version, middleware.errors],
        client_max_size=MAX_REQUEST_BODY,
        handler_args={
            "max_field_size": MAX_HEADER_FIELD,
            "max_line_size": MAX_HEADER_FIELD,
            "read_bufsize": READ_BUFFER,
        },
    )
    router = ApiRouter(app)
    system.register(router, services)
    images.register(router, services.images, pull=services.pull)
    distribution.register(router, pull=services.pull, push=services.push, registry=services.registry)
    containers.register(router, services)
    exec.register(router, services)
    archive.register(router, services)
    volumes.register(router, services.volumes, events=services.events)
    networks.register(router, services)
    build.register(router, services)
    inspector = distribution_inspect.register(router, services.pull)
    plugins.register(router, inspector)
    session.register(router)
    swarm.register(router)
    return app
