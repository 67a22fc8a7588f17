"""``stats``: cgroup counters in Docker's StatsJSON shape (what ``docker stats`` computes CPU % from)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from berth.engine.containers.container import Container, now_rfc3339
from berth.errors import NotFound

if TYPE_CHECKING:
    from berth.engine.containers.service import ContainerService


def _empty(container: Container) -> dict[str, Any]:
    return {
        "read": "0001-01-01T00:00:00Z",
        "preread": "0001-01-01T00:00:00Z",
        "pids_stats": {},
        "blkio_stats": {},
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": {
            "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {},
        },
        "precpu_stats": {
            "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {},
        },
        "memory_stats": {},
        "name": container.name,
        "id": container.container_id,
    }


def stats_json(
    service: ContainerService, container: Container, previous: dict[str, Any] | None
) -> dict[str, Any]:
    if not container.status.is_alive():
        body = _empty(container)
        if previous:
            body["preread"], body["precpu_stats"] = previous["read"], previous["cpu_stats"]
        return body
    try:
        s = service.runtime.stats(container.container_id)
    except NotFound:
        return _empty(container)
    cpu = {
        "cpu_usage": {
            "total_usage": s.cpu_total_ns,
            "percpu_usage": list(s.percpu_ns) or None,
            "usage_in_kernelmode": s.cpu_system_ns,
            "usage_in_usermode": s.cpu_user_ns,
        },
        "system_cpu_usage": s.system_cpu_ns,
        "online_cpus": s.online_cpus,
        "throttling_data": {
            "periods": 0,
            "throttled_periods": s.throttled_periods,
            "throttled_time": s.throttled_time_ns,
        },
    }
    return {
        "read": now_rfc3339(),
        "preread": previous["read"] if previous else "0001-01-01T00:00:00Z",
        "pids_stats": {"current": s.pids_current, **({"limit": s.pids_limit} if s.pids_limit else {})},
        "blkio_stats": {"io_service_bytes_recursive": None},
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu,
        "precpu_stats": previous["cpu_stats"]
        if previous
        else {"cpu_usage": {"total_usage": 0}, "throttling_data": {}},
        "memory_stats": {
            "usage": s.memory_usage,
            "max_usage": s.memory_max_usage,
            "limit": s.memory_limit,
            "stats": dict(s.memory_stats),
        },
        "name": container.name,
        "id": container.container_id,
        **({"networks": networks} if (networks := _networks(container)) else {}),
    }


_NET_FIELDS = ("bytes", "packets", "errors", "dropped")


def _networks(container: Container) -> dict[str, dict[str, int]]:
    """Per-interface counters from the container's own namespace (``/proc/PID/net/dev``), loopback
    aside; none for ``--network host`` (the host's counters are not the container's)."""
    if not container.pid or (container.host_config.get("NetworkMode") or "default") == "host":
        return {}
    try:
        lines = Path(f"/proc/{container.pid}/net/dev").read_text().splitlines()[2:]
    except OSError:
        return {}
    out: dict[str, dict[str, int]] = {}
    for line in lines:
        name, _, counters = line.partition(":")
        values = [int(v) for v in counters.split()]
        if name.strip() == "lo" or len(values) < 12:
            continue
        rx, tx = values[0:4], values[8:12]  # bytes packets errs drop, for receive then transmit
        out[name.strip()] = {
            **{f"rx_{field}": value for field, value in zip(_NET_FIELDS, rx, strict=True)},
            **{f"tx_{field}": value for field, value in zip(_NET_FIELDS, tx, strict=True)},
        }
    return out
