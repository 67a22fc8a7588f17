"""``instrument(app)``: what counts every request (``MetricsAccessLogger``), and ``GET /metrics``.

Who may read ``/metrics``: it is served on the registry's own port (distribution uses a separate
debug address; one port is simpler to run), but answered only to clients whose address is in
``metrics.allow`` (default loopback: 127.0.0.0/8 and ::1). Anyone else gets the 404 of any unknown
path, so the endpoint is not even visible. ``metrics.enabled: false`` turns the endpoint off (the
counting costs a few microseconds a request and stays).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from berth.registry.api import routes
from berth.registry.api.routes import RouteName
from berth.registry.metrics.collectors import RegistryMetrics
from berth.registry.service import Registry

METRICS_KEY = web.AppKey("metrics", RegistryMetrics)
METRICS_PATH = "/metrics"

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# distribution's handler names for its /v2/ routes
_V2_HANDLERS = {
    RouteName.BASE: "base",
    RouteName.CATALOG: "catalog",
    RouteName.TAGS: "tags",
    RouteName.MANIFEST: "manifest",
    RouteName.BLOB: "blob",
    RouteName.UPLOAD_START: "blob_upload",
    RouteName.UPLOAD: "blob_upload_chunk",
    RouteName.REFERRERS: "referrers",
}


def handler_name(path: str) -> str:
    """The route a path belongs to, as a bounded label (never the repository or the digest)."""
    if path == "/v2" or path.startswith("/v2/"):
        matched = routes.match(path)
        return _V2_HANDLERS[matched[0].name] if matched else "unknown"
    if path == "/token":
        return "token"
    if path in ("/v1/search", "/v1/_ping"):
        return "search"
    if path.startswith("/api/"):
        return "hub_api"
    if path == METRICS_PATH:
        return "metrics"
    return "web"


def instrument(app: web.Application, registry: Registry) -> RegistryMetrics:
    """Count ``app``'s requests (outermost middleware) and serve ``/metrics`` if the config says so."""
    metrics = RegistryMetrics(registry.db)
    app[METRICS_KEY] = metrics
    app.middlewares.insert(0, _in_flight)
    settings = registry.config.metrics
    if settings.enabled:
        allowed = [ipaddress.ip_network(net) for net in settings.allow]

        async def scrape(request: web.Request) -> web.StreamResponse:
            if not _allowed(request.remote, allowed):
                raise web.HTTPNotFound()
            body = generate_latest(metrics.registry)
            return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

        app.router.add_route("GET", METRICS_PATH, scrape)
    return metrics


def _allowed(remote: str | None, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    if not remote:  # a unix socket or a test transport without a peer address: the host itself
        return True
    try:
        address = ipaddress.ip_address(remote.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in net for net in networks)


@web.middleware
async def _in_flight(request: web.Request, handler: _Handler) -> web.StreamResponse:
    gauge = request.app[METRICS_KEY].in_flight.labels(handler_name(request.path))
    gauge.inc()
    try:
        return await handler(request)
    finally:
        gauge.dec()


class MetricsAccessLogger(AbstractAccessLogger):
    """Counts each request once its answer is sent — aiohttp calls an access logger then, with the
    response's final status and body length (a FileResponse is only sent after every middleware
    returned, so a middleware cannot see its bytes). ``serve`` passes it to its ``AppRunner``."""

    def log(self, request: BaseRequest, response: web.StreamResponse, time: float) -> None:
        app = getattr(request, "app", None)
        metrics = app.get(METRICS_KEY) if app is not None else None
        if metrics is None:
            return
        name = handler_name(request.path)
        metrics.requests.labels(name, request.method, str(response.status)).inc()
        metrics.duration.labels(name, request.method).observe(time)
        metrics.request_size.labels(name).observe(request.content.total_bytes)
        metrics.response_size.labels(name).observe(response.body_length)
