"""``POST /build``: the classic builder's API (the docker CLI with ``DOCKER_BUILDKIT=0``, ``berth build``,
docker-py's ``images.build``). The body is the context tar; the answer Docker's JSON progress stream,
a failed RUN's error with ``errorDetail.code`` = its exit code. Every query parameter of the spec
either takes effect or is refused with dockerd's message (``squash`` needs experimental mode, BuildKit
``version=2`` and ``outputs`` need BuildKit, which Berth does not have). ``remote`` takes an http(s)
URL of an archive or of a Dockerfile (git repositories are refused).

``POST /build/prune``: dockerd prunes BuildKit's cache there (the classic builder's cache is its
intermediate images, which ``image prune`` handles); here that is the ``RUN --mount=type=cache``
directories (``engine.builder.cache_mounts``). ``all``; ``filters`` ``until``/``unused-for`` (a Go
duration back from now, a date or time, unix seconds), ``id``, ``parent``, ``type``, ``description``,
``inuse``, ``shared``, ``private``, ``label``/``label!`` (``engine.builder.cache_prune``), any other
refused as dockerd does (``invalid filter 'x'``); ``reserved-space`` (or the older ``keep-storage``),
``max-used-space``, ``min-free-space`` in bytes. The answer: the deleted ids (``null`` for none) and
the bytes reclaimed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from typing import Any

from aiohttp import web

from berth.api.auth import decode_header
from berth.daemon.server.bodies import BodyReader
from berth.daemon.server.filters import parse_filters, query_bool
from berth.daemon.server.router import ApiRouter
from berth.daemon.server.routes.distribution import ProgressStream
from berth.daemon.wiring import Services
from berth.engine.builder.builder import BuildFailed, BuildOptions, BuildService, decode_auths
from berth.engine.builder.cache_mounts import CacheMounts
from berth.errors import InvalidArgument, NotSupported
from berth.util import gotime

_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}
# query parameter → the HostConfig field of RUN's containers it sets (0 or empty: unset)
_LIMITS = {
    "memory": "Memory",
    "memswap": "MemorySwap",
    "cpushares": "CpuShares",
    "cpuperiod": "CpuPeriod",
    "cpuquota": "CpuQuota",
    "shmsize": "ShmSize",
}


def register(router: ApiRouter, services: Services) -> None:
    handler = _Handler(services.build, services.build_cache)
    router.post("/build", handler.build)
    router.post("/build/prune", handler.prune)


def _json(request: web.Request, key: str, what: str) -> Any:
    raw = request.query.get(key, "")
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise InvalidArgument(f"error reading {what}: {exc}") from exc


def _string_map(request: web.Request, key: str, what: str) -> dict[str, str]:
    """``buildargs``/``labels``: a JSON object (``null`` as none); a null value is an unset arg."""
    value = _json(request, key, what)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"error reading {what}: expected a JSON object")
    return {str(k): str(v) for k, v in value.items() if v is not None}


def _string_list(request: web.Request, key: str, what: str) -> list[str]:
    value = _json(request, key, what)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"error reading {what}: expected a JSON array of strings")
    return list(value)


def _int(request: web.Request, key: str) -> int:
    raw = request.query.get(key, "")
    if not raw:
        return 0
    try:
        return int(raw)
    except ValueError as exc:
        raise InvalidArgument(f'strconv.ParseInt: parsing "{raw}": invalid syntax ({key})') from exc


def host_platform() -> str:
    machine = os.uname().machine
    return f"linux/{_ARCH.get(machine, machine)}"


def _platform(value: str) -> str:
    """``platform``: only this machine's (Berth runs no foreign binaries); normalised lowercase."""
    if not value:
        return ""
    parts = value.lower().split("/")
    if len(parts) < 2 or not all(parts):
        raise InvalidArgument(f'"{value}": unknown operating system or architecture: invalid argument')
    wanted = "/".join(parts[:2])
    if wanted != host_platform():
        raise NotSupported(
            f'platform "{value}" is not supported: this daemon builds only for its own platform, '
            f"{host_platform()}"
        )
    return wanted


def options_of(request: web.Request) -> BuildOptions:
    """The build's options from the query, refusing what the classic builder here cannot do."""
    query = request.query
    version = query.get("version", "") or "1"
    if version == "2":
        raise NotSupported(
            "BuildKit is not supported by this daemon: build with the classic builder (version=1)"
        )
    if version != "1":
        raise InvalidArgument(f'invalid version "{version}"')
    if query_bool(request, "squash"):
        raise InvalidArgument("squash is only supported with experimental mode")
    if query.getall("securityopt", []):
        raise InvalidArgument("security options are not supported on linux")
    isolation = query.get("isolation", "")
    if isolation not in ("", "default"):
        raise InvalidArgument(f'unsupported isolation: "{isolation}"')
    outputs = _json(request, "outputs", "outputs")
    if outputs:
        raise NotSupported("outputs (--output) require BuildKit, which this daemon does not have")
    if query.get("session") or query.get("buildid"):
        raise NotSupported("build sessions need BuildKit, which this daemon does not have")
    # RUN's containers get these as a `docker run` would (and the same checks refuse bad values)
    host: dict[str, Any] = {}
    for key, field in _LIMITS.items():
        if value := _int(request, key):
            host[field] = value
    for key, field in (("cpusetcpus", "CpusetCpus"), ("cpusetmems", "CpusetMems")):
        if query.get(key):
            host[field] = query[key]
    ulimits = _json(request, "ulimits", "ulimit settings")
    if ulimits:
        if not isinstance(ulimits, list) or not all(isinstance(u, dict) for u in ulimits):
            raise InvalidArgument("error reading ulimit settings: expected a JSON array of objects")
        host["Ulimits"] = ulimits
    if query.get("cgroupparent"):
        host["CgroupParent"] = query["cgroupparent"]
    force_remove = query_bool(request, "forcerm")
    header = request.headers.get("X-Registry-Config", "")
    try:
        auths: dict[str, Any] = decode_auths(decode_header(header)) if header else {}
    except ValueError as exc:
        raise InvalidArgument(f"invalid X-Registry-Config: {exc}") from exc
    return BuildOptions(
        secrets={
            k: _base64(v, "secret " + k) for k, v in _header_map(request, "X-Berth-Build-Secrets").items()
        },
        ssh=_header_map(request, "X-Berth-Build-Ssh"),
        interleaved=_progress_mode(request.headers.get("X-Berth-Build-Progress", "")),
        tags=[t for t in query.getall("t", []) if t],
        dockerfile=query.get("dockerfile", "") or "Dockerfile",
        build_args=_string_map(request, "buildargs", "build args"),
        labels=_string_map(request, "labels", "labels"),
        target=query.get("target", ""),
        quiet=query_bool(request, "q"),
        no_cache=query_bool(request, "nocache"),
        pull=query_bool(request, "pull"),
        platform=_platform(query.get("platform", "")),
        network_mode=query.get("networkmode", ""),
        registry_auths=auths,
        extra_hosts=[_extra_host(h) for h in query.getall("extrahosts", []) if h],
        cache_from=_string_list(request, "cachefrom", "cache-from"),
        remove=force_remove or query.get("rm", "") == "" or query_bool(request, "rm"),
        force_remove=force_remove,
        host_config=host,
    )


def _header_map(request: web.Request, name: str) -> dict[str, str]:
    """A header of base64url JSON {string: string} (``berth build --secret`` / ``--ssh``)."""
    raw = request.headers.get(name, "")
    if not raw:
        return {}
    try:
        value = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except ValueError as exc:
        raise InvalidArgument(f"invalid {name}: {exc}") from exc
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidArgument(f"invalid {name}: expected a JSON object of strings")
    return {str(k): v for k, v in value.items()}


def _progress_mode(value: str) -> bool:
    """``X-Berth-Build-Progress: interleaved`` (berth build's live view): stages' output as it comes."""
    if value not in ("", "ordered", "interleaved"):
        raise InvalidArgument(f"invalid X-Berth-Build-Progress {value!r}: ordered or interleaved")
    return value == "interleaved"


def _base64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode(), validate=True)
    except ValueError as exc:
        raise InvalidArgument(f"invalid {what}: not base64") from exc


def _extra_host(entry: str) -> str:
    """``name:address`` or the docker CLI's ``name=address`` as ``name:address``."""
    name, sep, address = entry.partition("=")
    return f"{name}:{address}" if sep else entry


def _until(filters: dict[str, list[str]]) -> float | None:
    """``until`` (or its old name ``unused-for``), taken out of ``filters``: unix seconds."""
    if "until" in filters and "unused-for" in filters:
        raise InvalidArgument('conflicting filters: "until" and "unused-for"')
    key = "unused-for" if "unused-for" in filters else "until"
    values = filters.pop(key, [])
    if not values:
        return None
    if len(values) > 1:
        raise InvalidArgument("filters expect only one value")
    try:
        return gotime.timestamp(values[0], now=time.time())
    except ValueError as exc:
        raise InvalidArgument(
            f"\"{key}\" filter expects a duration (e.g., '24h') or a timestamp: {exc}"
        ) from None


def _bytes(request: web.Request, key: str) -> int:
    raw = request.query.get(key, "")
    if not raw:
        return 0
    if not raw.lstrip("+-").isdigit():
        raise InvalidArgument(f"{key} is in bytes and expects an integer, got {raw}")
    if int(raw) < 0:
        raise InvalidArgument(f"{key} is in bytes and must not be negative, got {raw}")
    return int(raw)


class _Handler:
    def __init__(self, builder: BuildService, cache: CacheMounts) -> None:
        self._builder = builder
        self._cache = cache

    async def build(self, request: web.Request) -> web.StreamResponse:
        options = options_of(request)
        body = BodyReader(request, asyncio.get_running_loop())
        remote = request.query.get("remote", "")

        async def work(stream: ProgressStream) -> None:
            try:
                if remote:  # the context comes from a URL (the body, if any, is not read)
                    await self._builder.build_remote(remote, options, stream.send)
                else:
                    await self._builder.build(body, options, stream.send)  # type: ignore[arg-type]  # duck-typed
            except BuildFailed as exc:  # dockerd's JSONError: the exit code travels with the message
                if stream.response is None:
                    raise
                message = str(exc)
                await stream.send({"errorDetail": {"code": exc.code, "message": message}, "error": message})

        return await ProgressStream(request).run(work)

    async def prune(self, request: web.Request) -> web.Response:
        filters = parse_filters(request.query.get("filters"))
        sizes = {
            key: _bytes(request, key)
            for key in ("keep-storage", "reserved-space", "max-used-space", "min-free-space")
        }
        until = _until(filters)
        deleted, reclaimed = await asyncio.to_thread(
            self._cache.prune,
            all=query_bool(request, "all"),
            until=until,
            keep_storage=sizes["reserved-space"] or sizes["keep-storage"],  # dockerd: the new name wins
            max_used_space=sizes["max-used-space"],
            min_free_space=sizes["min-free-space"],
            filters=filters,
        )
        return web.json_response({"CachesDeleted": deleted or None, "SpaceReclaimed": reclaimed})
