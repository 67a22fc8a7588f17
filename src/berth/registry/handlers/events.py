"""Webhook events of manifest requests: build distribution's envelope from the request and queue
it for the hooks that want it (notify/store.py); the worker (notify/worker.py) is only woken."""

from __future__ import annotations

from aiohttp import web

from berth.registry.handlers.context import RequestContext
from berth.registry.notify import envelope
from berth.registry.notify.worker import DeliveryWorker

WORKER_KEY = web.AppKey("webhook_worker", DeliveryWorker)


def _source(request: web.Request) -> str:
    sock = request.transport.get_extra_info("sockname") if request.transport else None
    return f"{sock[0]}:{sock[1]}" if isinstance(sock, tuple) and len(sock) >= 2 else request.host


def publish(ctx: RequestContext, action: str, target: envelope.Target) -> None:
    request = ctx.request
    user = ctx.identity.user
    origin = envelope.Origin(
        addr=request.remote or "",
        host=request.host,
        method=request.method,
        useragent=request.headers.get("User-Agent", ""),
        actor=user.name if user else "",
        source_addr=_source(request),
        scheme=request.scheme,
    )
    body = envelope.envelope(envelope.event(action, target, origin))
    if ctx.registry.webhooks.publish(target.repository, action, body):
        worker = request.app.get(WORKER_KEY)
        if worker is not None:
            worker.wake()
