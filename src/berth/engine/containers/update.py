"""``docker update``: new resource limits and restart policy for an existing container.

``POST /containers/{id}/update`` takes an UpdateConfig (Resources + RestartPolicy). As dockerd does
(daemon/update.go, container.UpdateContainer): the request's resources are checked like create's
(``resources.verify(update=True)``); the non-zero ones replace the stored values (so ``0`` means "leave
as it is"), with dockerd's conflict checks against what is stored; the HostConfig is saved, so that the
next start (and a restarted daemon) uses the new values; a running or paused container also gets the
request's limits written to its cgroup at once (``resources.resources(partial=True)``).

Only the fields of dockerd's UpdateContainer change; any other resource field with a value is refused
rather than dropped (dockerd would ignore it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from berth.engine.containers import resources
from berth.errors import Conflict, InvalidArgument

# What dockerd's UpdateContainer copies into the stored HostConfig when non-zero (PidsLimit when set).
UPDATABLE = (
    "BlkioWeight", "CpuShares", "NanoCpus", "CpuPeriod", "CpuQuota", "CpusetCpus", "CpusetMems",
    "Memory", "MemorySwap", "MemoryReservation", "CpuRealtimePeriod", "CpuRealtimeRuntime", "PidsLimit",
)  # fmt: skip
# The rest of the API's Resources: refused when set (KernelMemory: ignored since API 1.42, as dockerd).
_NOT_UPDATABLE = (
    "CgroupParent", "BlkioWeightDevice", "BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps",
    "BlkioDeviceWriteIOps", "Devices", "DeviceCgroupRules", "DeviceRequests", "KernelMemoryTCP",
    "MemorySwappiness", "OomKillDisable", "Init", "Ulimits", "CpuCount", "CpuPercent",
)  # fmt: skip
_RESTART_NAMES = ("no", "always", "on-failure", "unless-stopped")
_STRUCT = "UpdateConfig"


@dataclass(frozen=True, slots=True)
class Update:
    """A checked update: the resource fields it sets, its restart policy (None: unchanged), warnings."""

    resources: dict[str, Any]
    restart_policy: dict[str, Any] | None
    warnings: list[str]


def parse(body: dict[str, Any]) -> Update:
    """An UpdateConfig body → Update; InvalidArgument (400) for a bad or unsupported value."""
    for key in _NOT_UPDATABLE:
        if body.get(key) not in (None, 0, "", [], False) and not (
            key == "MemorySwappiness" and body[key] == -1
        ):
            raise InvalidArgument(
                f"{key} cannot be changed by an update: recreate the container to change it"
            )
    fields: dict[str, Any] = {key: body[key] for key in UPDATABLE if body.get(key) is not None}
    for key in ("CpusetCpus", "CpusetMems"):
        resources.text(fields, key, _STRUCT)
    pids = resources.optional_integer(fields, "PidsLimit", _STRUCT)
    if pids is not None and pids <= 0:
        fields["PidsLimit"] = 0  # the update route's rule: 0 and any negative value mean unlimited
    # verify() also checks the Windows-only QoS fields, which an update may carry.
    for key in ("IOMaximumIOps", "IOMaximumBandwidth"):
        if body.get(key) is not None:
            fields[key] = body[key]
    warnings = resources.verify(fields, update=True)
    for key in ("IOMaximumIOps", "IOMaximumBandwidth"):
        fields.pop(key, None)
    return Update(fields, _restart_policy(body.get("RestartPolicy")), warnings)


def _restart_policy(value: object) -> dict[str, Any] | None:
    """dockerd's validateRestartPolicy; an empty name leaves the policy as it is."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise resources.wrong_type(_STRUCT, "RestartPolicy", value, "container.RestartPolicy")
    name = resources.text(value, "Name", f"{_STRUCT}.RestartPolicy")
    count = resources.integer(value, "MaximumRetryCount", f"{_STRUCT}.RestartPolicy", "int")
    if name in ("always", "unless-stopped", "no") and count != 0:
        message = "invalid restart policy: maximum retry count can only be used with 'on-failure'"
        raise InvalidArgument(message + (" and cannot be negative" if count < 0 else ""))
    if name == "on-failure" and count < 0:
        raise InvalidArgument("invalid restart policy: maximum retry count cannot be negative")
    if name and name not in _RESTART_NAMES:
        raise InvalidArgument(
            f"invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', 'on-failure', "
            "or 'unless-stopped'"
        )
    return {"Name": name, "MaximumRetryCount": count} if name else None


def merged(container_id: str, host: dict[str, Any], update: Update, *, auto_remove: bool) -> dict[str, Any]:
    """The HostConfig after ``update`` (a new dict); Conflict (409) "Cannot update container ID: …"
    with dockerd's messages when the update contradicts what is stored."""
    new, current = update.resources, host

    def conflict(message: str) -> Conflict:
        return Conflict(f"Cannot update container {container_id}: {message}")

    def stored(key: str) -> int:
        return resources.integer(current, key)

    def wanted(key: str) -> int:
        return resources.integer(new, key, _STRUCT)

    # NanoCpus sets the CFS period and quota: once one way is used, the other is blocked.
    if wanted("NanoCpus") > 0 and stored("CpuPeriod") > 0:
        raise conflict("Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set")
    if wanted("NanoCpus") > 0 and stored("CpuQuota") > 0:
        raise conflict("Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set")
    if wanted("CpuPeriod") > 0 and stored("NanoCpus") > 0:
        raise conflict("Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set")
    if wanted("CpuQuota") > 0 and stored("NanoCpus") > 0:
        raise conflict("Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set")
    # dockerd compares with the stored swap even when that is 0 (no limit) or -1 (unlimited): such a
    # container needs --memory-swap with -m (moby#39541, still so in Docker 28).
    if wanted("Memory") and wanted("Memory") > stored("MemorySwap") and wanted("MemorySwap") == 0:
        raise conflict(
            "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"
        )
    result = dict(host)
    for key, value in new.items():
        if key == "PidsLimit" or value not in (0, ""):
            result[key] = value
    if update.restart_policy is not None:
        if update.restart_policy["Name"] != "no" and auto_remove:
            raise conflict("Restart policy cannot be updated because AutoRemove is enabled for the container")
        result["RestartPolicy"] = update.restart_policy
    return result


def live_resources(update: Update) -> dict[str, Any]:
    """The OCI resources to write to a running container's cgroup: the request's own limits."""
    return resources.resources(update.resources, partial=True)
