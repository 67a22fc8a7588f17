"""RegistryMetrics: what one ``serve`` process counts, plus gauges read from metadata when scraped.

Names follow distribution's where it has them (``registry_http_*`` from its HTTP instrumentation,
``registry_notifications_*``); labels are bounded: the route's name (``manifest``, ``blob``, …),
the method and the status code — never a repository name, so private repositories never leak.

Scrape-time values come from the metadata DB, which every replica shares: upload sessions in
progress (one ``COUNT``), webhook deliveries pending, bytes of blobs stored (a ``SUM`` over the
``blobs`` table, cached for ``STORAGE_CACHE_SECONDS``: a large registry's sum is not free), and the
totals ``berth-registry gc`` adds to the ``meta`` table after each run (``gc.py``) — gc runs in
its own process, so its counts live where every replica can read them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from berth.registry.gc import GC_LAST_RUN
from berth.registry.metadata import MetadataDB

STORAGE_CACHE_SECONDS = 30.0

# seconds: from a ping (~1 ms) to a large blob (minutes)
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
# bytes: a manifest (~1 KB) to a large layer (GBs)
_SIZE_BUCKETS = tuple(float(1 << n) for n in range(8, 34, 3))

_GC_METRICS = {
    "gc.runs": "registry_gc_runs",
    "gc.blobs": "registry_gc_removed_blobs",
    "gc.manifests": "registry_gc_removed_manifests",
    "gc.bytes": "registry_gc_removed_bytes",
}


class _MetadataCollector(Collector):
    """Gauges and gc totals read from the metadata DB at each scrape."""

    def __init__(self, db: MetadataDB) -> None:
        self._db = db
        self._storage: tuple[float, int, int] = (0.0, 0, 0)  # when, bytes, blobs

    def collect(self) -> Iterator[Metric]:
        uploads = self._count("SELECT COUNT(*) FROM uploads")
        yield GaugeMetricFamily(
            "registry_uploads_in_progress", "Blob upload sessions started and not yet closed.", value=uploads
        )
        pending = self._count("SELECT COUNT(*) FROM webhook_queue")
        yield GaugeMetricFamily(
            "registry_notifications_pending", "Webhook deliveries queued and not yet done.", value=pending
        )
        used, count = self._storage_used()
        yield GaugeMetricFamily(
            "registry_storage_blobs_bytes", "Bytes of the blobs stored (from metadata).", value=used
        )
        yield GaugeMetricFamily("registry_storage_blobs", "Blobs stored.", value=count)
        totals = {
            str(r["key"]): r["value"]
            for r in self._db.query("SELECT key, value FROM meta WHERE key LIKE 'gc.%'")
        }
        helps = {
            "registry_gc_runs": "Garbage collections run (berth-registry gc, dry runs excluded).",
            "registry_gc_removed_blobs": "Blobs garbage collection removed.",
            "registry_gc_removed_manifests": "Untagged manifests garbage collection removed.",
            "registry_gc_removed_bytes": "Bytes garbage collection freed.",
        }
        for key, name in _GC_METRICS.items():
            yield CounterMetricFamily(name, helps[name], value=float(totals.get(key, 0)))
        yield GaugeMetricFamily(
            "registry_gc_last_run_timestamp_seconds",
            "When garbage collection last finished (unix time; 0: never).",
            value=float(totals.get(GC_LAST_RUN, 0)),
        )

    def _count(self, sql: str) -> int:
        row = self._db.query_one(sql)
        return int(row[0]) if row else 0

    def _storage_used(self) -> tuple[int, int]:
        when, used, count = self._storage
        now = time.monotonic()
        if not when or now - when > STORAGE_CACHE_SECONDS:
            row = self._db.query_one("SELECT COALESCE(SUM(size), 0), COUNT(*) FROM blobs")
            used, count = (int(row[0]), int(row[1])) if row else (0, 0)
            self._storage = (now, used, count)
        return used, count


class RegistryMetrics:
    """The metrics of one registry app, in a registry of their own (several apps may share a process)."""

    def __init__(self, db: MetadataDB) -> None:
        self.registry = CollectorRegistry()
        labels = ("handler", "method", "code")
        self.requests = Counter(
            "registry_http_requests_total",
            "HTTP requests by route, method and status.",
            labels,
            registry=self.registry,
        )
        self.duration = Histogram(
            "registry_http_request_duration_seconds",
            "Time to answer, by route and method.",
            ("handler", "method"),
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.request_size = Histogram(
            "registry_http_request_size_bytes",
            "Bytes of request bodies read, by route.",
            ("handler",),
            buckets=_SIZE_BUCKETS,
            registry=self.registry,
        )
        self.response_size = Histogram(
            "registry_http_response_size_bytes",
            "Bytes of response bodies sent, by route.",
            ("handler",),
            buckets=_SIZE_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "registry_http_in_flight_requests",
            "Requests being answered, by route.",
            ("handler",),
            registry=self.registry,
        )
        self.deliveries = Counter(
            "registry_notifications_deliveries_total",
            "Webhook delivery attempts by outcome: delivered, retry (failed, tried again), failed (given up).",
            ("outcome",),
            registry=self.registry,
        )
        for outcome in ("delivered", "retry", "failed"):
            self.deliveries.labels(outcome)
        self.registry.register(_MetadataCollector(db))

    def delivery(self, outcome: str) -> None:
        """One webhook attempt ended so (the delivery worker's callback)."""
        self.deliveries.labels(outcome).inc()
