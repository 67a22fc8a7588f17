"""build_app: the aiohttp application of one Registry (distribution API, token, search, web page)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from berth.errors import BerthError
from berth.registry.handlers import dispatch, hub_api, search, token
from berth.registry.handlers import web as web_pages
from berth.registry.handlers.context import REGISTRY_KEY
from berth.registry.handlers.events import WORKER_KEY
from berth.registry.hub.pulls import FLUSH_SECONDS
from berth.registry.metrics import instrument
from berth.registry.notify.worker import DeliveryWorker
from berth.registry.service import Registry

log = logging.getLogger(__name__)


def build_app(registry: Registry) -> web.Application:
    """The whole HTTP surface. The registry is closed by its owner, not by the app."""
    app = web.Application(client_max_size=16 << 20, handler_args={"read_bufsize": 1 << 20})
    app[REGISTRY_KEY] = registry
    dispatch.add_routes(app)
    app.router.add_route("GET", "/token", token.handle_token)
    app.router.add_route("POST", "/token", token.handle_token)
    app.router.add_route("GET", "/v1/_ping", search.ping)
    app.router.add_route("GET", "/v1/search", search.search)
    hub_api.add_routes(app)
    metrics = instrument(app, registry)  # before the web pages' catch-all routes
    web_pages.add_routes(app)

    async def close_upstream(_: web.Application) -> None:
        if registry.upstream is not None:
            await registry.upstream.close()

    app.on_cleanup.append(close_upstream)
    app[WORKER_KEY] = DeliveryWorker(
        registry.webhooks, registry.config.notifications, on_outcome=metrics.delivery
    )
    app.cleanup_ctx.append(_deliver_webhooks)
    app.cleanup_ctx.append(_flush_pull_counts)
    return app


async def _deliver_webhooks(app: web.Application) -> AsyncIterator[None]:
    """The webhook worker runs while the app serves (pending deliveries stay queued in the DB)."""
    task = asyncio.create_task(app[WORKER_KEY].run())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _flush_pull_counts(app: web.Application) -> AsyncIterator[None]:
    """Store pull counts every ``FLUSH_SECONDS`` (off the event loop) and once more at shutdown."""
    counts = app[REGISTRY_KEY].hub.pulls

    async def every_few_seconds() -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            try:
                await asyncio.to_thread(counts.flush)
            except BerthError as err:  # the counts stay pending; the next flush tries again
                log.warning("storing pull counts failed: %s", err)

    task = asyncio.create_task(every_few_seconds())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await asyncio.to_thread(counts.flush)
