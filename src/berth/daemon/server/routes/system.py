"""System endpoints: ``/_ping``, ``/version``, ``/info``, ``/events``, ``/system/df``, and Berth's
``POST /system/check[?repair=1][&verify=1]`` (the store check, ``engine/check``)."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import time
from typing import Any

from aiohttp import web

from berth import __version__
from berth.api.versions import CURRENT_API_VERSION, MIN_API_VERSION
from berth.daemon.server import container_json
from berth.daemon.server.filters import parse_filters, query_bool
from berth.daemon.server.router import ApiRouter
from berth.daemon.wiring import Services
from berth.errors import InvalidArgument
from berth.network import sysctl


def register(router: ApiRouter, services: Services) -> None:
    router.get("/_ping", _ping)
    router.get("/version", _version)
    router.get("/info", lambda request: _info(request, services))
    router.get("/events", lambda request: _events(request, services))
    router.get("/system/df", lambda request: _df(request, services))
    router.post("/system/check", lambda request: _check(request, services))


async def _check(request: web.Request, services: Services) -> web.Response:
    """{"Findings": [{Area, Subject, Problem, Repair, Repaired}], "Repaired": N, "Remaining": N}."""
    repair, verify = query_bool(request, "repair"), query_bool(request, "verify")
    report = await asyncio.to_thread(services.check.run, repair=repair, verify=verify)
    return web.json_response(report.to_json())


async def _ping(request: web.Request) -> web.Response:
    headers = {
        "Cache-Control": "no-cache, no-store, must-revalidate",
        "Pragma": "no-cache",
        "Builder-Version": "1",
        "Swarm": "inactive",
    }
    return web.Response(
        text="OK" if request.method == "GET" else "", headers=headers, content_type="text/plain"
    )


def _kernel() -> str:
    return platform.release()


async def _version(request: web.Request) -> web.Response:
    details = {
        "ApiVersion": CURRENT_API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "berth",
        "GoVersion": f"python{platform.python_version()}",
        "Os": "linux",
        "Arch": _arch(),
        "KernelVersion": _kernel(),
        "Experimental": "false",
        "BuildTime": "",
    }
    body = {
        "Platform": {"Name": "Berth Engine"},
        "Components": [{"Name": "Engine", "Version": __version__, "Details": details}],
        "Version": __version__,
        "ApiVersion": CURRENT_API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "berth",
        "GoVersion": f"python{platform.python_version()}",
        "Os": "linux",
        "Arch": _arch(),
        "KernelVersion": _kernel(),
        "BuildTime": "",
    }
    return web.json_response(body)


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _mem_total() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


async def _info(request: web.Request, services: Services) -> web.Response:
    counts = services.containers.counts()
    config = services.config
    body: dict[str, Any] = {
        "ID": services.daemon_id,
        "Containers": counts["total"],
        "ContainersRunning": counts["running"],
        "ContainersPaused": counts["paused"],
        "ContainersStopped": counts["stopped"],
        "Images": len(services.images.list_images(all_images=True)),  # every image, as dockerd counts
        "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
        "Plugins": {"Volume": ["local"], "Network": ["host", "null"], "Log": ["json-file", "local"]},
        "MemoryLimit": True,
        "SwapLimit": True,
        "CpuCfsPeriod": True,
        "CpuCfsQuota": True,
        "CPUShares": True,
        "PidsLimit": True,
        "OomKillDisable": False,
        "IPv4Forwarding": sysctl.read_flag(sysctl.IPV4_FORWARD),
        "Debug": config.log_level == "debug",
        "NFd": len(os.listdir("/proc/self/fd")),
        "NGoroutines": len(asyncio.all_tasks()),
        "SystemTime": time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime()),
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": services.cgroup_version,
        "NEventsListener": 0,
        "KernelVersion": _kernel(),
        "OperatingSystem": os_name(),
        "OSVersion": "",
        "OSType": "linux",
        "Architecture": platform.machine(),
        "IndexServerAddress": f"https://{config.default_registry}/v1/",
        "RegistryConfig": {
            "InsecureRegistryCIDRs": services.resolver.insecure_cidrs(),
            "IndexConfigs": {},
            "Mirrors": config.registry_mirrors,
        },
        "NCPU": os.cpu_count() or 1,
        "MemTotal": _mem_total(),
        "DockerRootDir": str(config.data_root),
        "Name": platform.node(),
        "Labels": [],
        "ExperimentalBuild": False,
        "ServerVersion": __version__,
        "Runtimes": {"berth": {"path": "berth-runtime"}},
        "DefaultRuntime": "berth",
        "Swarm": {"LocalNodeState": "inactive", "ControlAvailable": False, "NodeID": "", "NodeAddr": ""},
        "LiveRestoreEnabled": True,
        "Isolation": "",
        "InitBinary": "docker-init",
        "SecurityOptions": [
            f"name=seccomp,profile={config.seccomp_profile or 'builtin'}",
            *(["name=userns"] if config.userns_remap else []),
            "name=cgroupns",
        ],
        "Warnings": None,
    }
    return web.json_response(body)


def _parse_time(value: str | None) -> int | None:
    """Docker's --since/--until: unix seconds (with optional fraction) → nanoseconds."""
    if not value:
        return None
    try:
        return int(float(value) * 1_000_000_000)
    except ValueError as exc:
        raise web.HTTPBadRequest(reason=f"invalid time {value!r}") from exc


_PREFIXED_ACTIONS = ("health_status", "exec_create", "exec_start")


def _value_matches(key: str, wanted: str, have: str) -> bool:
    """Ids match by prefix; ``event=health_status`` matches "health_status: healthy" (as moby does)."""
    if wanted == have or (key in {"container", "image"} and have.startswith(wanted)):
        return True
    return key == "event" and wanted in _PREFIXED_ACTIONS and have.startswith(wanted + ":")


def _matches(event: dict[str, Any], filters: dict[str, list[str]]) -> bool:
    actor = event["Actor"]
    checks = {
        "type": [event["Type"]],
        "event": [event["Action"]],
        "container": [actor["ID"], actor["Attributes"].get("name", "")]
        if event["Type"] == "container"
        else None,
        "image": [actor["ID"], actor["Attributes"].get("image", ""), actor["Attributes"].get("name", "")],
    }
    for key, wanted in filters.items():
        if key == "label":
            labels = actor["Attributes"]
            pairs = [w.partition("=") for w in wanted]
            if not all(k in labels and (not sep or labels[k] == v) for k, sep, v in pairs):
                return False
            continue
        have = checks.get(key)
        if have is None:
            return False
        if not any(_value_matches(key, w, h) for w in wanted for h in have if h):
            return False
    return True


async def _events(request: web.Request, services: Services) -> web.StreamResponse:
    since = _parse_time(request.query.get("since"))
    until = _parse_time(request.query.get("until"))
    filters = parse_filters(request.query.get("filters"))
    resp = web.StreamResponse()
    resp.content_type = "application/json"
    await resp.prepare(request)
    bus = services.events
    async with bus.subscribe() as queue:
        if since is not None:
            for event in bus.since(since):
                if until is not None and event["timeNano"] > until:
                    break
                if _matches(event, filters):
                    await resp.write(json.dumps(event).encode() + b"\n")
        while True:
            timeout = None if until is None else max(0.0, (until - time.time_ns()) / 1e9)
            if timeout == 0.0:
                break
            try:
                async with asyncio.timeout(timeout):
                    event = await queue.get()
            except TimeoutError:
                break
            if since is not None and event["timeNano"] < since:
                continue
            if _matches(event, filters):
                await resp.write(json.dumps(event).encode() + b"\n")
    await resp.write_eof()
    return resp


_DF_TYPES = ("container", "image", "volume", "build-cache")


async def _df(request: web.Request, services: Services) -> web.Response:
    """Every kind, or those ``type`` names (API ≥ 1.42; the others ``null``, as dockerd)."""
    wanted = set(request.query.getall("type", [])) or set(_DF_TYPES)
    for kind in wanted - set(_DF_TYPES):
        raise InvalidArgument(f"unknown object type: {kind}")
    body: dict[str, Any] = {"LayersSize": 0, "Images": None, "Containers": None, "Volumes": None}
    if "image" in wanted:
        body["Images"] = services.images.list_images(all_images=True)
        body["LayersSize"] = sum(int(i.get("Size", 0)) for i in body["Images"])
    if "container" in wanted:
        snapshotter = services.images.snapshotter
        containers = []
        for container in services.containers.all():
            rw = await asyncio.to_thread(snapshotter.usage, container.snapshot_key)
            containers.append(container_json.list_row(container, size=(rw, rw)))
        body["Containers"] = containers
    if "volume" in wanted:  # with UsageData{Size,RefCount}
        body["Volumes"] = await asyncio.to_thread(services.volumes.usage)
    body["BuildCache"] = None
    if "build-cache" in wanted:  # the RUN --mount=type=cache directories
        records = await asyncio.to_thread(services.build_cache.usage)
        body["BuildCache"] = [record.to_json() for record in records]
    return web.json_response(body)
