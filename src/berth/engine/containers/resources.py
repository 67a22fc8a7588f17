"""``linux.resources`` of a container's OCI spec from its HostConfig: memory, CPU and pids limits
(how ``--cpus`` becomes a CFS quota, Docker's default swap).
"""

from __future__ import annotations

from typing import Any

from berth.errors import InvalidArgument

CFS_PERIOD = 100_000


def resources(host: dict[str, Any]) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    memory = int(host.get("Memory") or 0)
    swap = int(host.get("MemorySwap") or 0)
    if memory:
        mem: dict[str, Any] = {"limit": memory}
        if swap > 0:
            if swap < memory:
                raise InvalidArgument(
                    "Minimum memoryswap limit should be larger than memory limit, see usage"
                )
            mem["swap"] = swap
        elif swap == 0:
            mem["swap"] = memory * 2  # Docker: unset swap means as much swap as memory
        else:
            mem["swap"] = -1
        resources["memory"] = mem
    cpu: dict[str, Any] = {}
    nano = int(host.get("NanoCpus") or 0)
    if nano:
        cpu["quota"], cpu["period"] = nano * CFS_PERIOD // 1_000_000_000, CFS_PERIOD
    elif host.get("CpuQuota"):
        cpu["quota"], cpu["period"] = int(host["CpuQuota"]), int(host.get("CpuPeriod") or CFS_PERIOD)
    if host.get("CpuShares"):
        cpu["shares"] = int(host["CpuShares"])
    if cpu:
        resources["cpu"] = cpu
    pids = int(host.get("PidsLimit") or 0)
    if pids > 0:
        resources["pids"] = {"limit": pids}
    return resources
