"""DaemonMetrics: dockerd's metric names where dockerd has them, ``berth_*`` where it has none.

From dockerd: ``engine_daemon_engine_info`` (version, kernel, os… as labels), ``…_engine_cpus_cpus``,
``…_engine_memory_bytes``, ``engine_daemon_container_states_containers{state}`` (read from the
container service at each scrape), ``engine_daemon_container_actions_seconds{action}`` and
``engine_daemon_network_actions_seconds{action}`` (the time the API call took), and
``engine_daemon_events_total``. Berth's own: ``berth_image_pulls_total``,
``builder_builds_triggered_total`` (buildkit's name), and the API's requests and latency by route
template (``/containers/{ref}/start``: bounded, no ids or names).
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from berth import __version__
from berth.daemon.server.routes.system import os_name
from berth.daemon.wiring import Services

# dockerd's buckets for its action timers (go-metrics' default: 5 ms to 10 s)
_ACTION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_API_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

# (method, route template) -> dockerd's action label
CONTAINER_ACTIONS = {
    ("POST", "/containers/create"): "create",
    ("POST", "/containers/{ref}/start"): "start",
    ("DELETE", "/containers/{ref}"): "delete",
    ("POST", "/commit"): "commit",
    ("GET", "/containers/{ref}/changes"): "changes",
}
NETWORK_ACTIONS = {
    ("POST", "/networks/create"): "create",
    ("DELETE", "/networks/{ref}"): "delete",
    ("POST", "/networks/{ref}/connect"): "connect",
    ("POST", "/networks/{ref}/disconnect"): "disconnect",
}


class _ContainerStates(Collector):
    def __init__(self, services: Services) -> None:
        self._containers = services.containers

    def collect(self) -> Iterator[Metric]:
        counts = self._containers.counts()
        family = GaugeMetricFamily(
            "engine_daemon_container_states_containers",
            "The count of containers in various states",
            labels=["state"],
        )
        for state in ("running", "paused", "stopped"):
            family.add_metric([state], counts[state])
        yield family


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 0


class DaemonMetrics:
    """The metrics of one berthd, in a registry of their own."""

    def __init__(self, services: Services) -> None:
        self.registry = CollectorRegistry()
        info = Gauge(
            "engine_daemon_engine_info",
            "The information related to the engine and the OS it is running on",
            ("architecture", "commit", "daemon_id", "graphdriver", "kernel", "os", "os_type", "version"),
            registry=self.registry,
        )
        info.labels(
            platform.machine(),
            "berth",
            services.daemon_id,
            "overlay2",
            platform.release(),
            os_name(),
            "linux",
            __version__,
        ).set(1)
        Gauge(
            "engine_daemon_engine_cpus_cpus",
            "The number of cpus that the host system of the engine has",
            registry=self.registry,
        ).set(os.cpu_count() or 0)
        Gauge(
            "engine_daemon_engine_memory_bytes",
            "The number of bytes of memory that the host system of the engine has",
            registry=self.registry,
        ).set(_memory_bytes())
        self.container_actions = Histogram(
            "engine_daemon_container_actions_seconds",
            "The number of seconds it takes to process each container action",
            ("action",),
            buckets=_ACTION_BUCKETS,
            registry=self.registry,
        )
        for action in CONTAINER_ACTIONS.values():
            self.container_actions.labels(action)
        self.network_actions = Histogram(
            "engine_daemon_network_actions_seconds",
            "The number of seconds it takes to process each network action",
            ("action",),
            buckets=_ACTION_BUCKETS,
            registry=self.registry,
        )
        for action in NETWORK_ACTIONS.values():
            self.network_actions.labels(action)
        self.events = Counter("engine_daemon_events", "The number of events logged", registry=self.registry)
        self.image_pulls = Counter(
            "berth_image_pulls",
            "Images pulled (each pull event: docker pull, run or build of a missing image)",
            registry=self.registry,
        )
        self.builds = Counter(
            "builder_builds_triggered", "Number of triggered image builds", registry=self.registry
        )
        self.api_requests = Counter(
            "berth_api_requests",
            "Engine API requests by method, route template and status code",
            ("method", "route", "code"),
            registry=self.registry,
        )
        self.api_duration = Histogram(
            "berth_api_request_duration_seconds",
            "Engine API request latency by method and route template",
            ("method", "route"),
            buckets=_API_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_ContainerStates(services))

    def request(self, method: str, route: str, code: int, seconds: float) -> None:
        """One API request answered (``route`` without the ``/v1.NN`` prefix)."""
        self.api_requests.labels(method, route, str(code)).inc()
        self.api_duration.labels(method, route).observe(seconds)
        if code >= 400:
            return  # dockerd times the actions that were done
        action = CONTAINER_ACTIONS.get((method, route))
        if action is not None:
            self.container_actions.labels(action).observe(seconds)
        action = NETWORK_ACTIONS.get((method, route))
        if action is not None:
            self.network_actions.labels(action).observe(seconds)
        if (method, route) == ("POST", "/build"):
            self.builds.inc()

    def event(self, kind: str, action: str) -> None:
        self.events.inc()
        if kind == "image" and action == "pull":
            self.image_pulls.inc()
