"""Docker's JSON shapes for containers: ``GET /containers/json`` rows and ``GET /containers/{id}/json``."""

from __future__ import annotations

import shlex
import time
from typing import Any

from berth.api.humanize import human_duration
from berth.engine import volumes
from berth.engine.containers import logconfig, mounts
from berth.engine.containers.container import Container, ContainerStatus, parse_rfc3339, with_port_maps
from berth.engine.containers.portruns import HostPorts
from berth.engine.networks.service import primary_network
from berth.engine.networks.settings import network_files_dir
from berth.errors import BerthError


def status_text(container: Container) -> str:
    now = time.time()
    status = container.status
    if status in {ContainerStatus.RUNNING, ContainerStatus.PAUSED}:
        text = "Up " + human_duration(now - parse_rfc3339(container.started_at))
        if status == ContainerStatus.PAUSED:
            text += " (Paused)"
        if container.health:
            health = container.health.get("Status", "starting")
            text += " (health: starting)" if health == "starting" else f" ({health})"
        return text
    if status == ContainerStatus.RESTARTING:
        return f"Restarting ({container.exit_code}) {human_duration(now - parse_rfc3339(container.finished_at))} ago"
    if status == ContainerStatus.REMOVING:
        return "Removal In Progress"
    if status == ContainerStatus.DEAD:
        return "Dead"
    if status == ContainerStatus.EXITED or parse_rfc3339(container.finished_at):
        return (
            f"Exited ({container.exit_code}) {human_duration(now - parse_rfc3339(container.finished_at))} ago"
        )
    return "Created"


def _state(container: Container) -> dict[str, Any]:
    status = container.status
    state: dict[str, Any] = {
        "Status": status.value,
        "Running": status in {ContainerStatus.RUNNING, ContainerStatus.PAUSED},
        "Paused": status == ContainerStatus.PAUSED,
        "Restarting": status == ContainerStatus.RESTARTING,
        "OOMKilled": container.oom_killed,
        "Dead": status == ContainerStatus.DEAD,
        "Pid": container.pid,
        "ExitCode": container.exit_code,
        "Error": container.error,
        "StartedAt": container.started_at,
        "FinishedAt": container.finished_at,
    }
    if container.health:
        state["Health"] = container.health
    return state


def _published(container: Container) -> dict[str, list[dict[str, str]] | None]:
    """NetworkSettings.Ports: exposed ports (null) and, while it runs, the host ports published."""
    ports: dict[str, list[dict[str, str]] | None] = {}
    for key in container.config.get("ExposedPorts") or {}:
        port, _, proto = key.partition("/")
        ports[f"{port}/{proto or 'tcp'}"] = None
    if container.status.is_alive():
        ports.update(
            (key, [{"HostIp": ip, "HostPort": port} for ip, port in binds])
            for key, binds in container.ports.items()
        )
    return ports


def _port_rows(container: Container) -> list[dict[str, Any]]:
    """``GET /containers/json``'s Ports: one row per binding, or per exposed port without one (made
    from the runs, not through NetworkSettings.Ports: a range of 10,000 is one list, not three)."""
    published = container.ports if container.status.is_alive() else HostPorts()
    rows: list[dict[str, Any]] = []
    for key in container.config.get("ExposedPorts") or {}:
        port, _, proto = key.partition("/")
        if f"{port}/{proto or 'tcp'}" not in published:
            rows.append({"PrivatePort": int(port), "Type": proto or "tcp"})
    for key, bindings in published.items():
        port, _, proto = key.partition("/")
        if not bindings:
            rows.append({"PrivatePort": int(port), "Type": proto})
        for ip, host_port in bindings:
            rows.append({"IP": ip, "PrivatePort": int(port), "PublicPort": int(host_port), "Type": proto})
    return rows


def _endpoint(container: Container, name: str) -> dict[str, Any]:
    endpoint = container.endpoints.get(name) or {}
    running = bool(endpoint.get("IPAddress"))
    dns_names = None
    if running and name != "bridge":  # Docker's order: name, aliases, short id, hostname
        dns_names = list(dict.fromkeys([
            container.name.removeprefix("/"), *(endpoint.get("Aliases") or []), container.short_id,
            *([container.config["Hostname"]] if container.config.get("Hostname") else []),
        ]))  # fmt: skip
    return {
        "IPAMConfig": endpoint.get("IPAMConfig"), "Links": endpoint.get("Links"), "Aliases": endpoint.get("Aliases"),
        "MacAddress": endpoint.get("MacAddress") or endpoint.get("DesiredMacAddress") or "",
        "DriverOpts": endpoint.get("DriverOpts"), "GwPriority": int(endpoint.get("GwPriority") or 0),
        "NetworkID": endpoint.get("NetworkID", ""), "EndpointID": endpoint.get("EndpointID", ""),
        "Gateway": endpoint.get("Gateway", ""), "IPAddress": endpoint.get("IPAddress", ""),
        "IPPrefixLen": endpoint.get("IPPrefixLen", 0), "IPv6Gateway": endpoint.get("IPv6Gateway", ""),
        "GlobalIPv6Address": endpoint.get("GlobalIPv6Address", ""),
        "GlobalIPv6PrefixLen": endpoint.get("GlobalIPv6PrefixLen", 0), "DNSNames": dns_names,
    }  # fmt: skip


def _network_settings(container: Container) -> dict[str, Any]:
    primary = primary_network(container)
    shared = primary.startswith("container:")
    names = [] if container.config.get("NetworkDisabled") or shared else [primary]
    names += [n for n in container.endpoints if n != primary]
    sandbox = container.status.is_alive() and not shared
    networks = {name: _endpoint(container, name) for name in names}
    bridge = networks.get("bridge") or {}
    return {
        "Bridge": "",
        "SandboxID": container.container_id if sandbox else "",
        "SandboxKey": f"/proc/{container.pid}/ns/net"
        if sandbox and container.pid and primary != "host"
        else "",
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Ports": _published(container),
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        # Deprecated, but read by docker-py and cri-dockerd: the default bridge's endpoint, as Docker 28
        "EndpointID": bridge.get("EndpointID", ""),
        "Gateway": bridge.get("Gateway", ""),
        "GlobalIPv6Address": bridge.get("GlobalIPv6Address", ""),
        "GlobalIPv6PrefixLen": bridge.get("GlobalIPv6PrefixLen", 0),
        "IPAddress": bridge.get("IPAddress", ""),
        "IPPrefixLen": bridge.get("IPPrefixLen", 0),
        "IPv6Gateway": bridge.get("IPv6Gateway", ""),
        "MacAddress": bridge.get("MacAddress", "") if bridge.get("IPAddress") else "",
        # --network container:X has no endpoints of its own (Docker shows none either)
        "Networks": networks,
    }


def _mounts(container: Container) -> list[dict[str, Any]]:
    """Docker's ``Mounts``: every bind, volume, tmpfs and image mount point (engine/containers/mounts.py)."""
    try:
        points = mounts.of(container)
    except (BerthError, OSError, ValueError):  # an unreadable record: inspect still answers
        return []
    return mounts.inspect_json(points, lambda name: volumes.source_for(container.directory, name))


def inspect(container: Container, *, size_rw: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Id": container.container_id,
        "Created": container.created,
        "Path": container.path,
        "Args": container.args,
        "State": _state(container),
        "Image": container.image_id,
        "ResolvConfPath": str(network_files_dir(container) / "resolv.conf"),
        "HostnamePath": str(network_files_dir(container) / "hostname"),
        "HostsPath": str(network_files_dir(container) / "hosts"),
        # As dockerd: only the json-file driver has a LogPath to show.
        "LogPath": str(container.log_path) if logconfig.driver_of(container) == "json-file" else "",
        "Name": container.name,
        "RestartCount": container.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": _host_config(container),
        "GraphDriver": {"Name": "overlay2", "Data": {"UpperDir": "", "WorkDir": ""}},
        "Mounts": _mounts(container),
        "Config": with_port_maps(container.config, "ExposedPorts"),
        "NetworkSettings": _network_settings(container),
    }
    if size_rw is not None:
        body["SizeRw"] = size_rw
    return body


def _host_config(container: Container) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "Binds": None, "ContainerIDFile": "", "LogConfig": {"Type": "json-file", "Config": {}},
        "NetworkMode": "default", "PortBindings": {}, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
        "AutoRemove": False, "VolumeDriver": "", "VolumesFrom": None, "CapAdd": None, "CapDrop": None,
        "CgroupnsMode": "private", "Dns": [], "DnsOptions": [], "DnsSearch": [], "ExtraHosts": None,
        "GroupAdd": None, "IpcMode": "private", "Cgroup": "", "Links": None, "OomScoreAdj": 0, "PidMode": "",
        "Privileged": False, "PublishAllPorts": False, "ReadonlyRootfs": False, "SecurityOpt": None,
        "UTSMode": "", "UsernsMode": "", "ShmSize": 67108864, "Runtime": "runc", "Isolation": "",
        "CpuShares": 0, "Memory": 0, "NanoCpus": 0, "CgroupParent": "", "BlkioWeight": 0,
        "CpuPeriod": 0, "CpuQuota": 0, "CpusetCpus": "", "CpusetMems": "", "Devices": [],
        "MemoryReservation": 0, "MemorySwap": 0, "MemorySwappiness": None, "OomKillDisable": False,
        "PidsLimit": None, "Ulimits": None, "Init": None, "Tmpfs": None,
        "MaskedPaths": None, "ReadonlyPaths": None,
        "BlkioWeightDevice": [], "BlkioDeviceReadBps": [], "BlkioDeviceWriteBps": [],
        "BlkioDeviceReadIOps": [], "BlkioDeviceWriteIOps": [], "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0,
        "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
    }  # fmt: skip
    return {**defaults, **with_port_maps(container.host_config, "PortBindings")}


def command_line(container: Container) -> str:
    argv = [container.path, *container.args]
    return " ".join(shlex.quote(a) if (" " in a or not a) else a for a in argv)


def list_row(container: Container, *, size: tuple[int, int] | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "Id": container.container_id,
        "Names": [container.name],
        "Image": container.image,
        "ImageID": container.image_id,
        "Command": command_line(container),
        "Created": int(parse_rfc3339(container.created)),
        "Ports": _port_rows(container),
        "Labels": container.config.get("Labels") or {},
        "State": container.status.value,
        "Status": status_text(container),
        "HostConfig": {"NetworkMode": container.host_config.get("NetworkMode") or "default"},
        "NetworkSettings": {"Networks": _network_settings(container)["Networks"]},
        "Mounts": _mounts(container),
    }
    if size is not None:
        row["SizeRw"], row["SizeRootFs"] = size
    return row
