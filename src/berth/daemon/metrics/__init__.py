"""berthd's Prometheus metrics (dockerd's names), served by ``--metrics-addr`` on a listener of its own.
Imports prometheus_client, aiohttp, daemon.wiring's Services; imported only when the flag is given.
Entry points: ``DaemonMetrics`` (the metrics), ``serve_metrics`` (the listener and the event counter).
"""

from berth.daemon.metrics.collectors import DaemonMetrics
from berth.daemon.metrics.listener import serve_metrics

__all__ = ["DaemonMetrics", "serve_metrics"]
