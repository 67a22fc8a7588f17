"""The registry's Prometheus metrics (distribution's names) and the ``/metrics`` endpoint.
Imports prometheus_client, aiohttp and berth.registry below it (service, api.routes); never the app.
Entry points: ``RegistryMetrics`` (the counters and the scrape-time collector) and ``instrument(app)``.
"""

from berth.registry.metrics.collectors import RegistryMetrics
from berth.registry.metrics.endpoint import MetricsAccessLogger, instrument

__all__ = ["MetricsAccessLogger", "RegistryMetrics", "instrument"]
