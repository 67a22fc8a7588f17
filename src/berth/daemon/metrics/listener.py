"""``serve_metrics``: the ``--metrics-addr`` listener (``GET /metrics``), the API middleware that times
every request, and the task that counts the event bus's events.

Its own TCP listener, as dockerd's: the metrics carry no secrets, but the Engine API's socket is
root's, and a scraper should not need it. Bind it to loopback unless the network is trusted.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from berth.daemon.metrics.collectors import DaemonMetrics
from berth.daemon.wiring import Services

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_VERSIONED = re.compile(r"^/v\{api_version\}")


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    if resource is None:
        return "unmatched"
    return _VERSIONED.sub("", resource.canonical) or "/"


def timing_middleware(
    metrics: DaemonMetrics,
) -> Middleware:
    @web.middleware
    async def timed(request: web.Request, handler: _Handler) -> web.StreamResponse:
        started = time.perf_counter()
        code = 500
        try:
            response = await handler(request)
            code = response.status
            return response
        except web.HTTPException as exc:
            code = exc.status
            raise
        finally:
            metrics.request(request.method, _route(request), code, time.perf_counter() - started)

    return timed


@contextlib.asynccontextmanager
async def serve_metrics(
    services: Services, api: web.Application, host: str, port: int
) -> AsyncIterator[None]:
    """Time ``api``'s requests (call before its runner is set up), count events, serve /metrics."""
    metrics = DaemonMetrics(services)
    api.middlewares.insert(0, timing_middleware(metrics))

    async def scrape(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app = web.Application()
    app.router.add_get("/metrics", scrape)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()

    async def count_events() -> None:
        async with services.events.subscribe() as queue:
            while True:
                event = await queue.get()
                metrics.event(event["Type"], event["Action"])

    async with asyncio.TaskGroup() as group:
        counting = group.create_task(count_events())
        try:
            await web.TCPSite(runner, host, port).start()
            yield
        finally:
            counting.cancel()
            await runner.cleanup()
