"""A container's cgroup limits: HostConfig's resource fields checked as dockerd checks them, and turned
into the ``linux.resources`` of its OCI spec.

Three steps, as in moby: ``adapt`` fills create's defaults (``MemorySwap`` twice ``Memory``…);
``verify`` is ``verifyPlatformContainerResources`` (plus runconfig's QoS and real-time checks): a limit
this host's cgroups cannot apply (``berth.runtime.cgroups.sysinfo``) is discarded with Docker's warning,
a bad value is refused with its error; ``resources`` maps what is left to the OCI object, which the
runtime writes to the cgroup files at start and ``docker update`` writes to a running container's.

Every field is read through ``integer``/``text``/``device_list``: a value of the wrong JSON type is an
InvalidArgument in Go's decoder's words, never a TypeError (a 500).
"""

from __future__ import annotations

import os
from typing import Any

from berth.errors import InvalidArgument
from berth.runtime.cgroups.sysinfo import SysInfo, online_cpus, parse_list, probe

CFS_PERIOD = 100_000
MIN_MEMORY = 6 * 1024 * 1024  # dockerd's linuxMinMemory: 6 MiB
_GOOS = "linux"

_THROTTLES = {  # HostConfig field → (OCI blockIO key, sysinfo flag, Docker's warning when unsupported)
    "BlkioDeviceReadBps": (
        "throttleReadBpsDevice", "blkio_read_bps",
        "Your kernel does not support BPS Block I/O read limit or the cgroup is not mounted. "
        "Block I/O BPS read limit discarded.",
    ),
    "BlkioDeviceWriteBps": (
        "throttleWriteBpsDevice", "blkio_write_bps",
        "Your kernel does not support BPS Block I/O write limit or the cgroup is not mounted. "
        "Block I/O BPS write limit discarded.",
    ),
    "BlkioDeviceReadIOps": (
        "throttleReadIOPSDevice", "blkio_read_iops",
        "Your kernel does not support IOPS Block read limit or the cgroup is not mounted. "
        "Block I/O IOPS read limit discarded.",
    ),
    "BlkioDeviceWriteIOps": (
        "throttleWriteIOPSDevice", "blkio_write_iops",
        "Your kernel does not support IOPS Block write limit or the cgroup is not mounted. "
        "Block I/O IOPS write limit discarded.",
    ),
}  # fmt: skip


# -- typed access: Go's decoder's errors instead of Python's ------------------------------------------


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return f"number {value}"
    names = {"str": "string", "list": "array", "dict": "object"}
    return names.get(type(value).__name__, type(value).__name__)


def wrong_type(struct: str, key: str, value: object, go_type: str) -> InvalidArgument:
    """Go's decoder's error for ``value`` (of the wrong JSON type) in field ``struct.key``."""
    return InvalidArgument(
        f"json: cannot unmarshal {_json_kind(value)} into Go struct field {struct}.{key} of type {go_type}"
    )


def integer(host: dict[str, Any], key: str, struct: str = "HostConfig", go_type: str = "int64") -> int:
    """``host[key]`` as an int (missing or null: 0); a string, bool, fraction or list is refused."""
    value = host.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise wrong_type(struct, key, value, go_type)
    if isinstance(value, float):
        if not value.is_integer():
            raise wrong_type(struct, key, value, go_type)
        value = int(value)
    if abs(value) >= 1 << 63 or (go_type.startswith("uint") and value < 0):
        raise wrong_type(struct, key, value, go_type)
    return value


def optional_integer(host: dict[str, Any], key: str, struct: str = "HostConfig") -> int | None:
    return None if host.get(key) is None else integer(host, key, struct)


def text(host: dict[str, Any], key: str, struct: str = "HostConfig") -> str:
    value = host.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise wrong_type(struct, key, value, "string")
    return value


def flag(host: dict[str, Any], key: str, struct: str = "HostConfig") -> bool | None:
    value = host.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise wrong_type(struct, key, value, "bool")


def device_list(
    host: dict[str, Any], key: str, value_key: str, struct: str = "HostConfig"
) -> list[dict[str, Any]]:
    """``[{"Path": "/dev/sda", "Rate"|"Weight": N}]`` checked entry by entry."""
    value = host.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise wrong_type(struct, key, value, "[]*blkiodev.ThrottleDevice")
    devices = []
    for entry in value:
        if not isinstance(entry, dict):
            raise wrong_type(struct, key, entry, "blkiodev.ThrottleDevice")
        path = text(entry, "Path", f"{struct}.{key}")
        go_type = "uint16" if value_key == "Weight" else "uint64"
        devices.append({"Path": path, value_key: integer(entry, value_key, f"{struct}.{key}", go_type)})
    return devices


# -- create's defaults ---------------------------------------------------------------------------------


def adapt(host: dict[str, Any]) -> None:
    """dockerd's adaptContainerSettings and the create route's normalisation, in place."""
    memory, swap = integer(host, "Memory"), integer(host, "MemorySwap")
    if memory > 0 and swap == 0:
        host["MemorySwap"] = memory * 2  # by default a container gets as much swap as memory
    pids = optional_integer(host, "PidsLimit")
    if pids is not None and pids <= 0:
        host["PidsLimit"] = None  # 0 and -1 both mean unlimited; inspect shows null
    if flag(host, "OomKillDisable") is None:
        host["OomKillDisable"] = False


# -- dockerd's checks ----------------------------------------------------------------------------------


def verify(host: dict[str, Any], *, update: bool = False, info: SysInfo | None = None) -> list[str]:
    """Check and normalise the resource fields of ``host`` (a HostConfig, or an update's Resources) in
    place; returns Docker's warnings for the limits discarded. InvalidArgument with dockerd's message
    for a bad value. ``update``: the checks of ``POST /containers/{id}/update``."""
    info = info or probe()
    warnings: list[str] = []
    if not update:
        _check_qos(host)
    _check_realtime(host, info)
    _check_memory(host, info, warnings, update=update)
    _check_cpu(host, info, warnings)
    _check_cpuset(host, info, warnings)
    _check_blkio(host, info, warnings)
    return warnings


def _check_qos(host: dict[str, Any]) -> None:
    # runconfig.validateQoS, run when create's body is decoded (before the daemon's own checks).
    if integer(host, "IOMaximumBandwidth", go_type="uint64"):
        raise InvalidArgument(
            f"Invalid QoS settings: {_GOOS} does not support configuration of maximum bandwidth"
        )
    if integer(host, "IOMaximumIOps", go_type="uint64"):
        raise InvalidArgument(f"Invalid QoS settings: {_GOOS} does not support configuration of maximum IOPs")


def _check_realtime(host: dict[str, Any], info: SysInfo) -> None:
    period, runtime = integer(host, "CpuRealtimePeriod"), integer(host, "CpuRealtimeRuntime")
    if (period or runtime) and not info.cpu_realtime:
        raise InvalidArgument("Your kernel does not support CPU real-time scheduler")
    if period and runtime and runtime > period:
        raise InvalidArgument("cpu real-time runtime cannot be higher than cpu real-time period")


def _check_memory(host: dict[str, Any], info: SysInfo, warnings: list[str], *, update: bool) -> None:
    swappiness = optional_integer(host, "MemorySwappiness")
    if swappiness == -1:
        host["MemorySwappiness"] = swappiness = None  # -1: the kernel's default
    memory, swap = integer(host, "Memory"), integer(host, "MemorySwap")
    if memory and memory < MIN_MEMORY:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    if memory > 0 and not info.memory_limit:
        warnings.append(
            "Your kernel does not support memory limit capabilities or the cgroup is not mounted. "
            "Limitation discarded."
        )
        host["Memory"], host["MemorySwap"] = memory, swap = 0, -1
    if memory > 0 and swap != -1 and not info.swap_limit:
        warnings.append(
            "Your kernel does not support swap limit capabilities or the cgroup is not mounted. "
            "Memory limited without swap."
        )
        host["MemorySwap"] = swap = -1
    if memory > 0 and swap > 0 and swap < memory:
        raise InvalidArgument("Minimum memoryswap limit should be larger than memory limit, see usage")
    if memory == 0 and swap > 0 and not update:
        raise InvalidArgument("You should always set the Memory limit when using Memoryswap limit, see usage")
    if swappiness is not None and not info.memory_swappiness:
        warnings.append(
            "Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. "
            "Memory swappiness discarded."
        )
        host["MemorySwappiness"] = swappiness = None
    if swappiness is not None and not 0 <= swappiness <= 100:
        raise InvalidArgument(f"Invalid value: {swappiness}, valid memory swappiness range is 0-100")
    reservation = integer(host, "MemoryReservation")
    if reservation > 0 and not info.memory_reservation:
        warnings.append(
            "Your kernel does not support memory soft limit capabilities or the cgroup is not mounted. "
            "Limitation discarded."
        )
        host["MemoryReservation"] = reservation = 0
    if 0 < reservation < MIN_MEMORY:
        raise InvalidArgument("Minimum memory reservation allowed is 6MB")
    if memory > 0 and reservation > 0 and memory < reservation:
        raise InvalidArgument("Minimum memory limit can not be less than memory reservation limit, see usage")
    # dockerd hands KernelMemoryTCP to runc, which no longer applies it; Berth writes it where cgroup
    # v1 has the file and otherwise discards it the way dockerd discards the other kernel limits.
    if integer(host, "KernelMemoryTCP") and not info.kernel_memory_tcp:
        warnings.append(
            "Your kernel does not support kernel memory TCP limit capabilities or the cgroup is not "
            "mounted. Limitation discarded."
        )
        host["KernelMemoryTCP"] = 0
    oom_kill_disable = flag(host, "OomKillDisable")
    if oom_kill_disable is not None and not info.oom_kill_disable:
        if oom_kill_disable:
            warnings.append("Your kernel does not support OomKillDisable. OomKillDisable discarded.")
        host["OomKillDisable"] = oom_kill_disable = None if update else False
    if oom_kill_disable and integer(host, "Memory") == 0:
        warnings.append(
            "OOM killer is disabled for the container, but no memory limit is set, this can result in "
            "the system running out of resources."
        )
    pids = optional_integer(host, "PidsLimit")
    if pids is not None and not info.pids_limit:
        if pids > 0:
            warnings.append(
                "Your kernel does not support PIDs limit capabilities or the cgroup is not mounted. "
                "PIDs limit discarded."
            )
        host["PidsLimit"] = None


def _check_cpu(host: dict[str, Any], info: SysInfo, warnings: list[str]) -> None:
    nano, period, quota = integer(host, "NanoCpus"), integer(host, "CpuPeriod"), integer(host, "CpuQuota")
    if nano > 0 and period > 0:
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if nano > 0 and quota > 0:
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    if nano > 0 and not info.cpu_cfs:
        raise InvalidArgument(
            "NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or the cgroup is not mounted"
        )
    cpus = online_cpus()
    if nano < 0 or nano > cpus * 1_000_000_000:
        raise InvalidArgument(
            f"range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available"
        )
    shares = integer(host, "CpuShares")
    if shares < 0:
        raise InvalidArgument("shares: invalid argument")
    if shares > 0 and not info.cpu_shares:
        warnings.append(
            "Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded."
        )
        host["CpuShares"] = 0
    if (period or quota) and not info.cpu_cfs:
        warnings.append("Your kernel does not support CPU CFS scheduler. CPU period/quota discarded.")
        host["CpuPeriod"] = host["CpuQuota"] = period = quota = 0
    if period and not 1000 <= period <= 1_000_000:
        raise InvalidArgument(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
        )
    if 0 < quota < 1000:
        raise InvalidArgument("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    if integer(host, "CpuPercent") > 0:
        warnings.append(f"{_GOOS} does not support CPU percent. Percent discarded.")
        host["CpuPercent"] = 0
    # dockerd has no Linux check for this Windows-only field (it would keep it and apply nothing):
    # discarded with a warning worded like CpuPercent's, so that nothing is silently ignored.
    if integer(host, "CpuCount") > 0:
        warnings.append(f"{_GOOS} does not support CPU count. Count discarded.")
        host["CpuCount"] = 0


def _check_cpuset(host: dict[str, Any], info: SysInfo, warnings: list[str]) -> None:
    cpus, mems = text(host, "CpusetCpus"), text(host, "CpusetMems")
    if (cpus or mems) and not info.cpuset:
        warnings.append("Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded.")
        host["CpusetCpus"] = host["CpusetMems"] = cpus = mems = ""
    for value, available, kind, missing in (
        (cpus, info.cpus, "cpus", "CPUs"),
        (mems, info.mems, "mems", "memory nodes"),
    ):
        if not value:
            continue
        wanted = parse_list(value)
        if wanted is None:
            raise InvalidArgument(f"Invalid value {value} for cpuset {kind}: invalid format: {value}")
        if not wanted <= (parse_list(available) or set()):
            raise InvalidArgument(
                f"Requested {missing} are not available - requested {value}, available: {available}"
            )


def _check_blkio(host: dict[str, Any], info: SysInfo, warnings: list[str]) -> None:
    weight = integer(host, "BlkioWeight", go_type="uint16")
    if weight > 0 and not info.blkio_weight:
        warnings.append(
            "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."
        )
        host["BlkioWeight"] = weight = 0
    if weight > 0 and not 10 <= weight <= 1000:
        raise InvalidArgument("Range of blkio weight is from 10 to 1000")
    if integer(host, "IOMaximumBandwidth", go_type="uint64") or integer(
        host, "IOMaximumIOps", go_type="uint64"
    ):
        raise InvalidArgument(
            f"Invalid QoS settings: {_GOOS} does not support Maximum IO Bandwidth or Maximum IO IOps"
        )
    if device_list(host, "BlkioWeightDevice", "Weight") and not info.blkio_weight_device:
        warnings.append(
            "Your kernel does not support Block I/O weight_device or the cgroup is not mounted. "
            "Weight-device discarded."
        )
        host["BlkioWeightDevice"] = []
    for key, (_, supported, warning) in _THROTTLES.items():
        if device_list(host, key, "Rate") and not getattr(info, supported):
            warnings.append(warning)
            host[key] = []


# -- HostConfig → linux.resources ----------------------------------------------------------------------


def _device_numbers(path: str) -> tuple[int, int]:
    """The major:minor of the block device at ``path`` on the host (dockerd stats it too)."""
    try:
        rdev = os.stat(path).st_rdev
    except OSError as exc:
        raise InvalidArgument(f"stat {path}: {(exc.strerror or str(exc)).lower()}") from None
    return os.major(rdev), os.minor(rdev)


def _devices(host: dict[str, Any], key: str, value_key: str, oci_key: str) -> list[dict[str, int]]:
    result = []
    for device in device_list(host, key, value_key):
        major, minor = _device_numbers(device["Path"])
        result.append({"major": major, "minor": minor, oci_key: device[value_key]})
    return result


def resources(host: dict[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """The OCI ``linux.resources`` (memory, cpu, pids, blockIO) for ``host``'s limits. ``partial``:
    only what ``host`` sets, for updating a live cgroup (no defaults; PidsLimit 0 means unlimited)."""
    result: dict[str, Any] = {}
    mem: dict[str, Any] = {}
    memory, swap = integer(host, "Memory"), integer(host, "MemorySwap")
    if memory:
        mem["limit"] = memory
        if swap > 0:
            if swap < memory:
                raise InvalidArgument(
                    "Minimum memoryswap limit should be larger than memory limit, see usage"
                )
            mem["swap"] = swap
        elif swap == 0 and not partial:
            mem["swap"] = memory * 2  # records made before adapt() stored the default
        elif swap < 0:
            mem["swap"] = -1
    elif swap and partial:
        mem["swap"] = swap
    if integer(host, "MemoryReservation") > 0:
        mem["reservation"] = integer(host, "MemoryReservation")
    swappiness = optional_integer(host, "MemorySwappiness")
    if swappiness is not None and swappiness >= 0:
        mem["swappiness"] = swappiness
    if flag(host, "OomKillDisable"):
        mem["disableOOMKiller"] = True
    if integer(host, "KernelMemoryTCP"):
        mem["kernelTCP"] = integer(host, "KernelMemoryTCP")
    if mem:
        result["memory"] = mem
    cpu = _cpu(host)
    if cpu:
        result["cpu"] = cpu
    pids = optional_integer(host, "PidsLimit")
    if pids is not None and (pids > 0 or partial):
        result["pids"] = {"limit": pids if pids > 0 else -1}
    block_io = _block_io(host)
    if block_io:
        result["blockIO"] = block_io
    return result


def _cpu(host: dict[str, Any]) -> dict[str, Any]:
    cpu: dict[str, Any] = {}
    nano = integer(host, "NanoCpus")
    if nano:
        cpu["quota"], cpu["period"] = nano * CFS_PERIOD // 1_000_000_000, CFS_PERIOD
    if integer(host, "CpuPeriod"):
        cpu["period"] = integer(host, "CpuPeriod")
    if integer(host, "CpuQuota"):
        cpu["quota"] = integer(host, "CpuQuota")
    if integer(host, "CpuShares") > 0:
        cpu["shares"] = integer(host, "CpuShares")
    if integer(host, "CpuRealtimePeriod"):
        cpu["realtimePeriod"] = integer(host, "CpuRealtimePeriod")
    if integer(host, "CpuRealtimeRuntime"):
        cpu["realtimeRuntime"] = integer(host, "CpuRealtimeRuntime")
    if text(host, "CpusetCpus"):
        cpu["cpus"] = text(host, "CpusetCpus")
    if text(host, "CpusetMems"):
        cpu["mems"] = text(host, "CpusetMems")
    return cpu


def _block_io(host: dict[str, Any]) -> dict[str, Any]:
    block_io: dict[str, Any] = {}
    weight = integer(host, "BlkioWeight", go_type="uint16")
    if weight:
        block_io["weight"] = weight
    weight_devices = _devices(host, "BlkioWeightDevice", "Weight", "weight")
    if weight_devices:
        block_io["weightDevice"] = weight_devices
    for key, (oci_key, _, _) in _THROTTLES.items():
        throttles = _devices(host, key, "Rate", "rate")
        if throttles:
            block_io[oci_key] = throttles
    return block_io
