"""The ``HostConfig`` of a ``POST /containers/create`` body from ``run``/``create`` flags, key for key
as the docker CLI 28.2.2 sends it (Go's field order; ``omitempty`` fields only when set).

    build(ns, binds=[], bindings={}, devices=[])["Memory"]
"""

from __future__ import annotations

from berth.cli.runopts import RunFlagError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _caps(caps: list[str]) -> list[str]:
    """docker normalises capability names: upper case with a ``CAP_`` prefix (``ALL`` stays)."""
    out = []
    for cap in caps:
        name = cap.strip().upper()
        out.append(name if name == "ALL" or name.startswith("CAP_") else "CAP_" + name)
    return out


def restart_policy(policy: str) -> dict[str, Any]:
    """docker's ``ParseRestartPolicy``: ``NAME[:COUNT]``; the name itself is the daemon's to check."""
    if not policy:
        return {"Name": "", "MaximumRetryCount": 0}
    name, colon, count = policy.partition(":")
    if colon and not name:
        raise RunFlagError("invalid restart policy format: no policy provided before colon")
    retries = 0
    if count:
        from berth.cli.goparse import parse_int

        try:
            retries = parse_int(count)
        except ValueError:
            raise RunFlagError(
                "invalid restart policy format: maximum retry count must be an integer"
            ) from None
    return {"Name": name, "MaximumRetryCount": retries}


def _valid_device_mode(mode: str) -> bool:
    return bool(mode) and len(set(mode)) == len(mode) and all(c in "rwm" for c in mode)


def devices(specs: list[str]) -> list[dict[str, str]]:
    """``--device HOST[:CONTAINER][:PERMS]`` (``/dev/sd*`` globbed) -> DeviceMapping entries."""
    out: list[dict[str, str]] = []
    for spec in specs:
        if spec.count(":") > 2 or spec.split(":", 1)[0] == "":
            raise RunFlagError(f"bad format for path: {spec}")
        parts = spec.split(":")
        if len(parts) == 3:
            if not _valid_device_mode(parts[2]):
                raise RunFlagError(f"bad mode specified: {parts[2]}")
            container_path = parts[1]
        elif len(parts) == 2 and not _valid_device_mode(parts[1]):
            container_path = parts[1]
        else:
            container_path = parts[0]
        if not container_path.startswith("/"):
            raise RunFlagError(f"{container_path} is not an absolute path")
        source, target, perms = parts[0], "", "rwm"
        if len(parts) >= 2:
            if _valid_device_mode(parts[1]) and len(parts) == 2:
                perms = parts[1]
            else:
                target = parts[1]
        if len(parts) == 3:
            perms = parts[2]
        if source.endswith("*") and not target:  # docker 28 takes "/dev/sd*:/dev/x" literally
            import glob

            for path in sorted(glob.glob(source)):
                out.append({"PathOnHost": path, "PathInContainer": path, "CgroupPermissions": perms})
            continue
        out.append({"PathOnHost": source, "PathInContainer": target or source, "CgroupPermissions": perms})
    return out


def _kv_map(items: list[str]) -> dict[str, str]:
    return dict(sorted((key, value) for key, _, value in (i.partition("=") for i in items)))


def _security_opts(opts: list[str]) -> tuple[list[str] | None, list[str] | None]:
    """(SecurityOpt, MaskedPaths/ReadonlyPaths override): seccomp profiles are read and sent inline,
    ``systempaths=unconfined`` is taken out and becomes empty masked/read-only path lists."""
    if not opts:
        return None, None
    out: list[str] = []
    unconfined_paths = False
    for opt in opts:
        key, eq, value = opt.partition("=")
        if not eq and opt != "no-new-privileges":
            if ":" not in opt:
                raise RunFlagError(f'Invalid --security-opt: "{opt}"')
            key, _, value = opt.partition(":")
        if key == "seccomp" and value not in ("unconfined", "builtin"):
            opt = "seccomp=" + _seccomp_profile(value)
        if opt == "systempaths=unconfined":
            unconfined_paths = True
            continue
        out.append(opt)
    return out, ([] if unconfined_paths else None)


def _seccomp_profile(path: str) -> str:
    import json

    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        reason = exc.strerror.lower() if exc.strerror else str(exc)
        raise RunFlagError(f"opening seccomp profile ({path}) failed: open {path}: {reason}") from exc
    try:
        return json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
    except ValueError as exc:
        raise RunFlagError(f"compacting json for seccomp profile ({path}) failed: {exc}") from exc


def _storage_opts(items: list[str]) -> dict[str, str]:
    for item in items:
        if "=" not in item:
            raise RunFlagError("invalid storage option")
    return _kv_map(items)


def _check_modes(ns: Any) -> None:
    pid = ns.pid
    if not (pid in ("", "host") or (pid.startswith("container:") and len(pid) > len("container:"))):
        raise RunFlagError("--pid: invalid PID mode")
    if ns.uts not in ("", "host"):
        raise RunFlagError("--uts: invalid UTS mode")
    if ns.userns not in ("", "host"):
        raise RunFlagError("--userns: invalid USER mode")
    if ns.cgroupns not in ("", "host", "private"):
        raise RunFlagError("--cgroupns: invalid CGROUP mode")


def _ulimits(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_name = {u["Name"]: u for u in items}  # the last of a name wins, as docker's map does
    return [by_name[name] for name in sorted(by_name)]


def _console_size(ns: Any) -> list[int]:
    """As the docker CLI: with -t, the terminal's [height, width], so the pty has it from the start."""
    if not ns.tty:
        return [0, 0]
    from berth.cli.streams import terminal_size

    size = terminal_size(1)
    return list(size) if size else [0, 0]


def build(
    ns: Any, *, binds: list[str], bindings: dict[str, list[dict[str, str]]], devices: list[dict[str, str]]
) -> dict[str, Any]:
    """The HostConfig (see the module docstring); RunFlagError for what docker refuses here."""
    _check_modes(ns)
    restart = restart_policy(ns.restart)
    if ns.log_driver == "none" and ns.log_opt:
        raise RunFlagError("invalid logging opts for driver none")
    security, system_paths = _security_opts(ns.security_opt)
    storage = _storage_opts(ns.storage_opt)
    if ns.rm and restart["Name"] not in ("", "no"):
        raise RunFlagError("conflicting options: cannot specify both --restart and --rm")
    networks = ns.network
    hc: dict[str, Any] = {
        "Binds": binds or None,
        "ContainerIDFile": ns.cidfile,
        "LogConfig": {"Type": ns.log_driver, "Config": _kv_map(ns.log_opt)},
        "NetworkMode": networks[0]["Target"] if networks else "default",
        "PortBindings": bindings,
        "RestartPolicy": restart,
        "AutoRemove": ns.rm,
        "VolumeDriver": ns.volume_driver,
        "VolumesFrom": ns.volumes_from or None,
        "ConsoleSize": _console_size(ns),
    }
    if ns.annotation:
        hc["Annotations"] = _kv_map(ns.annotation)
    hc.update(
        {
            "CapAdd": _caps(ns.cap_add) or None,
            "CapDrop": _caps(ns.cap_drop) or None,
            "CgroupnsMode": ns.cgroupns,
            "Dns": ns.dns,
            "DnsOptions": ns.dns_option,
            "DnsSearch": ns.dns_search,
            "ExtraHosts": ns.add_host or None,
            "GroupAdd": ns.group_add or None,
            "IpcMode": ns.ipc,
            "Cgroup": "",
            "Links": ns.link or None,
            "OomScoreAdj": ns.oom_score_adj,
            "PidMode": ns.pid,
            "Privileged": ns.privileged,
            "PublishAllPorts": ns.publish_all,
            "ReadonlyRootfs": ns.read_only,
            "SecurityOpt": security,
        }
    )
    if storage:
        hc["StorageOpt"] = storage
    if ns.tmpfs:
        hc["Tmpfs"] = {path: opts for path, _, opts in (spec.partition(":") for spec in ns.tmpfs)}
    hc.update({"UTSMode": ns.uts, "UsernsMode": ns.userns, "ShmSize": ns.shm_size})
    if ns.runtime:
        hc["Runtime"] = ns.runtime
    if ns.sysctl:
        hc["Sysctls"] = _kv_map(ns.sysctl)
    hc.update(
        {
            "Isolation": ns.isolation,
            "CpuShares": ns.cpu_shares,
            "Memory": ns.memory,
            "NanoCpus": ns.cpus,
            "CgroupParent": ns.cgroup_parent,
            "BlkioWeight": ns.blkio_weight,
            "BlkioWeightDevice": ns.blkio_weight_device,
            "BlkioDeviceReadBps": ns.device_read_bps,
            "BlkioDeviceWriteBps": ns.device_write_bps,
            "BlkioDeviceReadIOps": ns.device_read_iops,
            "BlkioDeviceWriteIOps": ns.device_write_iops,
            "CpuPeriod": ns.cpu_period,
            "CpuQuota": ns.cpu_quota,
            "CpuRealtimePeriod": ns.cpu_rt_period,
            "CpuRealtimeRuntime": ns.cpu_rt_runtime,
            "CpusetCpus": ns.cpuset_cpus,
            "CpusetMems": ns.cpuset_mems,
            "Devices": devices,
            "DeviceCgroupRules": ns.device_cgroup_rule or None,
            "DeviceRequests": ns.gpus or None,
            "MemoryReservation": ns.memory_reservation,
            "MemorySwap": ns.memory_swap,
            "MemorySwappiness": ns.memory_swappiness,
            "OomKillDisable": ns.oom_kill_disable,
            "PidsLimit": ns.pids_limit,
            "Ulimits": _ulimits(ns.ulimit),
            "CpuCount": ns.cpu_count,
            "CpuPercent": ns.cpu_percent,
            "IOMaximumIOps": ns.io_maxiops,
            "IOMaximumBandwidth": ns.io_maxbandwidth,
        }
    )
    if ns.mount:
        hc["Mounts"] = list(ns.mount)
    hc["MaskedPaths"] = system_paths
    hc["ReadonlyPaths"] = system_paths
    if ns.init is not None:
        hc["Init"] = ns.init
    return hc


__all__ = ["build", "devices", "restart_policy"]
