"""``/containers/…``: create, list, inspect, lifecycle verbs, attach, wait, logs, top, stats, diff, export."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from berth.api.versions import parse as parse_version
from berth.daemon.server import container_json, schema
from berth.daemon.server.filters import matches, parse_filters
from berth.daemon.server.hijack import hijack
from berth.daemon.server.router import ApiRouter
from berth.daemon.server.streams import parse_detach_keys, pump, ws_pump
from berth.daemon.wiring import Services
from berth.engine.containers import logconfig
from berth.engine.containers import mounts as container_mounts
from berth.engine.containers.changes import hide_mount_points
from berth.engine.containers.container import Container, ContainerStatus
from berth.engine.containers.logs import LogQuery, framed_logs, log_batches, stream_logs
from berth.engine.containers.service import ContainerService, parse_signal
from berth.engine.containers.stats import stats_json
from berth.engine.networks.ports import port_key
from berth.errors import InvalidArgument, NotFound

_ID = "/containers/{ref}"
_LOG_BATCH = 1024 * 1024
_HEADERS_GRACE = 0.05


def register(router: ApiRouter, services: Services) -> None:
    routes = _ContainerRoutes(services)
    router.post("/containers/create", routes.create)
    router.get("/containers/json", routes.list)
    router.post("/containers/prune", routes.prune)
    router.get(_ID + "/json", routes.inspect)
    router.post(_ID + "/start", routes.start)
    router.post(_ID + "/stop", routes.stop)
    router.post(_ID + "/restart", routes.restart)
    router.post(_ID + "/kill", routes.kill)
    router.post(_ID + "/pause", routes.pause)
    router.post(_ID + "/unpause", routes.unpause)
    router.post(_ID + "/rename", routes.rename)
    router.post(_ID + "/wait", routes.wait)
    router.post(_ID + "/attach", routes.attach)
    router.get(_ID + "/attach/ws", routes.attach_ws)
    router.post(_ID + "/resize", routes.resize)
    router.get(_ID + "/logs", routes.logs)
    router.get(_ID + "/top", routes.top)
    router.get(_ID + "/stats", routes.stats)
    router.get(_ID + "/changes", routes.changes)
    router.get(_ID + "/export", routes.export)
    router.delete(_ID, routes.remove)
    router.post(_ID + "/update", routes.update)
    router.delete("/containers/{parent}/{alias}", routes.remove)  # rm --link PARENT/ALIAS


def _signal_query(request: web.Request) -> str | None:
    """``?signal=``, checked here: fuzzing found "³" (isdigit() but not int()) and "RTMIN+x" reaching
    int() inside parse_signal as a ValueError -> 500. (The same check belongs in parse_signal itself.)"""
    value = request.query.get("signal")
    if value:
        try:
            parse_signal(value)
        except ValueError:
            raise InvalidArgument(f"invalid signal: {value}") from None
    return value


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in {"1", "true", "yes"}


def _seconds(request: web.Request, name: str) -> float | None:
    value = request.query.get(name)
    if value in (None, ""):
        return None
    try:
        return float(value)
    except ValueError:
        raise InvalidArgument(f"invalid value for {name}: {value!r}") from None


def _int(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidArgument(f"invalid value for {name}: {value!r}") from None


class _ContainerRoutes:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._containers: ContainerService = services.containers

    def _get(self, request: web.Request) -> Container:
        return self._containers.get(request.match_info["ref"])

    async def create(self, request: web.Request) -> web.Response:
        body = schema.decode(await request.read(), "ContainerCreate")
        if body.get("StopSignal"):  # a bad one would otherwise fail (500) only at stop time
            try:
                parse_signal(body["StopSignal"])
            except ValueError:
                raise InvalidArgument(f"invalid signal: {body['StopSignal']}") from None
        version = request.match_info.get("api_version")
        container = await self._containers.create(
            body,
            request.query.get("name") or None,
            platform=request.query.get("platform", ""),
            api_version=parse_version(version) if version else None,
        )
        return web.json_response({"Id": container.container_id, "Warnings": container.warnings}, status=201)

    def _matches(self, container: Container, filters: dict[str, list[str]]) -> bool:
        for key, wanted in filters.items():
            if key == "id":
                ok = any(container.container_id.startswith(w) for w in wanted)
            elif key == "name":
                ok = any(matches(w, container.name) or matches(w, container.name[1:]) for w in wanted)
            elif key == "status":
                ok = container.status.value in wanted
            elif key == "exited":
                ok = container.status == ContainerStatus.EXITED and str(container.exit_code) in wanted
            elif key == "label":
                labels = container.config.get("Labels") or {}
                ok = all(
                    (k in labels and (not sep or labels[k] == v))
                    for k, sep, v in (w.partition("=") for w in wanted)
                )
            elif key == "ancestor":
                ok = any(
                    w in {container.image, container.image_id}
                    or container.image_id.removeprefix("sha256:").startswith(w)
                    for w in wanted
                )
            elif key == "volume":  # a volume's name, a bind's source, or a mount's destination
                points = container_mounts.of(container)
                ok = any(w in {p.name or p.source, p.destination} for p in points for w in wanted)
            elif key == "health":  # Docker's ps filter: starting, healthy, unhealthy or none
                ok = ((container.health or {}).get("Status") or "none") in wanted
            elif key == "network":  # a network's name or id (prefix)
                ok = any(self._on_network(container, w) for w in wanted)
            elif key in {"publish", "expose"}:  # "80", "80/tcp": published (to the host) or exposed
                ports = container.ports if key == "publish" else (container.config.get("ExposedPorts") or {})
                have = (
                    {port_key(p) for p in ports} if key == "expose" or container.status.is_alive() else set()
                )
                ok = any(port_key(w) in have for w in wanted)
            else:
                raise InvalidArgument(f"invalid filter '{key}'")
            if not ok:
                return False
        return True

    def _on_network(self, container: Container, ref: str) -> bool:
        networks = self._services.networks
        names = networks.memberships(container)
        try:
            return networks.get(ref).name in names
        except NotFound:
            return ref in names

    async def list(self, request: web.Request) -> web.Response:
        filters = parse_filters(request.query.get("filters"))
        show_all = _flag(request, "all")
        limit = _int(request, "limit") or 0
        size = _flag(request, "size")
        rows = []
        containers = sorted(self._containers.all(), key=lambda c: c.created, reverse=True)
        for container in containers:
            if not show_all and not filters.get("status") and limit <= 0 and not container.status.is_alive():
                continue
            if not self._matches(container, filters):
                continue
            sizes = await self._sizes(container) if size else None
            rows.append(container_json.list_row(container, size=sizes))
        if limit > 0:
            rows = rows[:limit]
        return web.json_response(rows)

    async def _sizes(self, container: Container) -> tuple[int, int]:
        snapshotter = self._services.images.snapshotter
        rw = await asyncio.to_thread(snapshotter.usage, container.snapshot_key)
        try:
            image_size = int(self._services.images.resolve(container.image_id).size)
        except NotFound:
            image_size = 0
        return rw, rw + image_size

    async def inspect(self, request: web.Request) -> web.Response:
        container = self._get(request)
        size_rw = (await self._sizes(container))[0] if _flag(request, "size") else None
        body = container_json.inspect(container, size_rw=size_rw)
        body["ExecIDs"] = self._services.execs.ids_for(container.container_id) or None
        body["NetworkSettings"]["SandboxKey"] = self._services.networks.sandbox_key(container)
        body["HostConfig"]["Links"] = self._services.networks.links_shown(container)
        return web.json_response(body)

    async def start(self, request: web.Request) -> web.Response:
        await self._containers.start(request.match_info["ref"])
        return web.Response(status=204)

    async def stop(self, request: web.Request) -> web.Response:
        await self._containers.stop(
            request.match_info["ref"], timeout=_int(request, "t"), signal=_signal_query(request)
        )
        return web.Response(status=204)

    async def restart(self, request: web.Request) -> web.Response:
        await self._containers.restart(
            request.match_info["ref"], timeout=_int(request, "t"), signal=_signal_query(request)
        )
        return web.Response(status=204)

    async def kill(self, request: web.Request) -> web.Response:
        await self._containers.kill(request.match_info["ref"], parse_signal(_signal_query(request)))
        return web.Response(status=204)

    async def pause(self, request: web.Request) -> web.Response:
        await self._containers.pause(request.match_info["ref"])
        return web.Response(status=204)

    async def unpause(self, request: web.Request) -> web.Response:
        await self._containers.unpause(request.match_info["ref"])
        return web.Response(status=204)

    async def rename(self, request: web.Request) -> web.Response:
        await self._containers.rename(request.match_info["ref"], request.query.get("name", ""))
        return web.Response(status=204)

    async def remove(self, request: web.Request) -> web.Response:
        info = request.match_info
        ref = info.get("ref") or f"/{info['parent']}/{info['alias']}"  # PARENT/ALIAS: a link's name
        if _flag(request, "link") or "alias" in info:  # docker rm --link /parent/alias
            if not _flag(request, "link"):
                raise NotFound(f"No such container: {ref}")
            await asyncio.to_thread(self._services.networks.remove_link, ref)
            return web.Response(status=204)
        await self._containers.remove(
            request.match_info["ref"], force=_flag(request, "force"), volumes=_flag(request, "v")
        )
        return web.Response(status=204)

    async def prune(self, request: web.Request) -> web.Response:
        deleted = []
        for container in self._containers.all():
            if container.status in {ContainerStatus.EXITED, ContainerStatus.CREATED, ContainerStatus.DEAD}:
                with contextlib.suppress(NotFound):
                    await self._containers.remove(container.container_id, force=False)
                    deleted.append(container.container_id)
        return web.json_response({"ContainersDeleted": deleted or None, "SpaceReclaimed": 0})

    async def wait(self, request: web.Request) -> web.StreamResponse:
        ref = request.match_info["ref"]
        condition = request.query.get("condition", "not-running")
        container = self._containers.get(ref)
        # Answer the headers now (as dockerd does) so a client knows the wait is armed before it starts.
        resp = web.StreamResponse(status=200)
        resp.content_type = "application/json"
        waiter = asyncio.get_running_loop().create_task(
            self._containers.wait(container.container_id, condition)
        )
        await resp.prepare(request)
        try:
            done = await waiter
        finally:
            waiter.cancel()
        # Error stays null: a failed start was already reported by the start request itself.
        await resp.write(json.dumps({"StatusCode": done.exit_code, "Error": None}).encode() + b"\n")
        await resp.write_eof()
        return resp

    async def attach(self, request: web.Request) -> web.StreamResponse:
        container = self._get(request)
        stdin, stdout, stderr = _flag(request, "stdin"), _flag(request, "stdout"), _flag(request, "stderr")
        logs, stream = _flag(request, "logs"), _flag(request, "stream")
        if not (stream or logs):
            raise InvalidArgument("Bad parameters: you must choose at least one stream")
        if logs:
            logconfig.readable_log(container)  # a driver that stores nothing: dockerd's 501, now
        # Detach keys (default ctrl-p,ctrl-q) end a TTY attach and leave the container running.
        keys = parse_detach_keys(request.query.get("detachKeys")) if container.tty and stdin else None
        if not stream:  # logs only (docker-py's attach(stream=False, logs=True)): send them and end
            client = await hijack(request, tty=container.tty)
            try:
                await self._send_logs(container, client.send, stdout=stdout, stderr=stderr)
                self._publish_attach(container, "attach")
            finally:
                await client.close()
            return client.response
        attaching = asyncio.get_running_loop().create_task(
            self._containers.attach(container.container_id, stdin=stdin, stdout=stdout, stderr=stderr)
        )
        client = await hijack(request, tty=container.tty)
        try:
            attached = await attaching
        except BaseException:
            attaching.cancel()
            await client.close()
            raise
        try:
            if logs:  # as dockerd: the stored log first (one frame per record), then the live stream
                try:
                    await self._send_logs(container, client.send, stdout=stdout, stderr=stderr)
                except BaseException:
                    attached.writer.close()
                    raise
            if await pump(attached, client, stdin=stdin, detach_keys=keys):
                # As dockerd, a detach-keys exit is a container event (published before the close,
                # which may end this handler).
                self._publish_attach(container, "detach")
        finally:
            await client.close()
        return client.response

    async def attach_ws(self, request: web.Request) -> web.StreamResponse:
        """As dockerd's websocket attach: stdin, stdout and stderr always attached, ``logs`` and
        ``stream`` as for ``attach``, output never multiplexed, binary messages from API 1.28 on."""
        container = self._get(request)
        logs, stream = _flag(request, "logs"), _flag(request, "stream")
        if logs:
            logconfig.readable_log(container)
        keys = parse_detach_keys(request.query.get("detachKeys")) if container.tty else None
        version = request.match_info.get("api_version")
        binary = not version or parse_version(version) >= parse_version("1.28")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        try:
            if logs:
                async for _, data in stream_logs(
                    self._containers, container, LogQuery(stdout=True, stderr=True)
                ):
                    await (ws.send_bytes(data) if binary else ws.send_str(data.decode("utf-8", "replace")))
            if not stream:
                self._publish_attach(container, "attach")  # the engine's attach publishes it otherwise
            else:
                attached = await self._containers.attach(
                    container.container_id, stdin=True, stdout=True, stderr=True
                )
                if await ws_pump(attached, ws, framed=not container.tty, binary=binary, detach_keys=keys):
                    self._publish_attach(container, "detach")
        finally:
            await ws.close()
        return ws

    def _publish_attach(self, container: Container, action: str) -> None:
        attributes = {"name": container.name.removeprefix("/"), "image": container.image}
        attributes.update(container.config.get("Labels") or {})
        self._services.events.publish("container", action, container.container_id, attributes)

    async def _send_logs(
        self, container: Container, send: Callable[[bytes], Awaitable[None]], *, stdout: bool, stderr: bool
    ) -> None:
        """The whole stored log, each record its own frame (its own write with a TTY)."""
        query = LogQuery(stdout=stdout, stderr=stderr)
        # docker-py reads the hijacked socket itself, past its HTTP parser: bytes that reach it in
        # the same read as the 101 headers are lost. dockerd opens the log before writing, which
        # leaves the client that moment; so does this pause.
        await asyncio.sleep(_HEADERS_GRACE)
        if not container.tty:
            async for chunk in framed_logs(self._containers, container, query, size=_LOG_BATCH):
                await send(chunk)
            return
        batch = bytearray()
        async for _, data in stream_logs(self._containers, container, query):
            batch += data
            if len(batch) >= _LOG_BATCH:
                await send(bytes(batch))
                batch.clear()
        if batch:
            await send(bytes(batch))

    async def resize(self, request: web.Request) -> web.Response:
        await self._containers.resize(
            request.match_info["ref"], _int(request, "h") or 0, _int(request, "w") or 0
        )
        return web.Response(status=200)

    async def logs(self, request: web.Request) -> web.StreamResponse:
        container = self._get(request)
        stdout, stderr = _flag(request, "stdout"), _flag(request, "stderr")
        if not (stdout or stderr):
            raise InvalidArgument("Bad parameters: you must choose at least one stream")
        logconfig.readable_log(container)  # a driver that stores nothing: dockerd's 501
        tail_text = request.query.get("tail", "all")
        query = LogQuery(
            stdout=stdout,
            stderr=stderr,
            follow=_flag(request, "follow"),
            timestamps=_flag(request, "timestamps"),
            details=_flag(request, "details"),
            since=float(request.query.get("since") or 0) or None,
            until=_seconds(request, "until"),  # an explicit 0 (the epoch) still bounds, as in dockerd
            tail=None if tail_text in {"all", ""} else int(tail_text),
        )
        resp = web.StreamResponse(status=200)
        resp.content_type = (
            "application/vnd.docker.raw-stream"
            if container.tty
            else "application/vnd.docker.multiplexed-stream"
        )
        await resp.prepare(request)
        # A log holds millions of short lines: batch them into large writes, except when following,
        # where every line must reach the client as it comes.
        if not container.tty:
            async for chunk in framed_logs(self._containers, container, query, size=_LOG_BATCH):
                await resp.write(chunk)
            await resp.write_eof()
            return resp
        pending = bytearray()
        async for batch in log_batches(self._containers, container, query):
            pending += b"".join(data for _, data in batch)
            if query.follow or len(pending) >= _LOG_BATCH:  # following: each read as it comes
                await resp.write(bytes(pending))
                pending.clear()
        if pending:
            await resp.write(bytes(pending))
        await resp.write_eof()
        return resp

    async def top(self, request: web.Request) -> web.Response:
        container = self._get(request)
        if container.status not in {ContainerStatus.RUNNING, ContainerStatus.PAUSED}:
            raise InvalidArgument(f"container {container.container_id} is not running")
        pids = set(await asyncio.to_thread(self._containers.runtime.pids, container.container_id))
        ps_args = (request.query.get("ps_args") or "-ef").split()
        if any("\x00" in arg for arg in ps_args):  # fuzzing: a NUL made subprocess.run raise -> 500
            raise InvalidArgument("invalid ps_args: NUL byte")
        result = await asyncio.to_thread(
            subprocess.run, ["ps", *ps_args], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise InvalidArgument(f"ps: {result.stderr.strip()}")
        lines = result.stdout.splitlines()
        titles = lines[0].split()
        if "PID" not in titles:
            raise InvalidArgument("Couldn't find PID field in ps output")
        pid_index = titles.index("PID")
        processes = []
        for line in lines[1:]:
            fields = line.split(None, len(titles) - 1)
            if len(fields) > pid_index and fields[pid_index].isdigit() and int(fields[pid_index]) in pids:
                processes.append(fields)
        return web.json_response({"Titles": titles, "Processes": processes})

    async def stats(self, request: web.Request) -> web.StreamResponse:
        container = self._get(request)
        stream = request.query.get("stream", "1").lower() not in {"0", "false"}
        one_shot = _flag(request, "one-shot")
        resp = web.StreamResponse(status=200)
        resp.content_type = "application/json"
        await resp.prepare(request)
        previous: dict[str, Any] | None = None
        while True:
            current = await asyncio.to_thread(stats_json, self._containers, container, previous)
            if stream or one_shot or previous is not None:
                await resp.write(json.dumps(current).encode() + b"\n")
            if not stream and (one_shot or previous is not None):
                break
            previous = current
            await asyncio.sleep(1.0 if stream else 0.1)
            if container.container_id not in {c.container_id for c in self._containers.all()}:
                break
        await resp.write_eof()
        return resp

    async def changes(self, request: web.Request) -> web.Response:
        container = self._get(request)
        changes = await asyncio.to_thread(self._services.images.snapshotter.changes, container.snapshot_key)
        changes = hide_mount_points(changes)
        return web.json_response([{"Path": path, "Kind": kind} for path, kind in changes] or None)

    async def export(self, request: web.Request) -> web.StreamResponse:
        container = self._get(request)
        # An unnamed spool: the container may be removed (its directory with it) while it is sent.
        with tempfile.TemporaryFile(prefix="berth-export-", dir=container.directory) as spool:
            shift = self._services.containers.id_shift(container)
            await asyncio.to_thread(
                self._services.images.snapshotter.export, container.snapshot_key, spool, shift
            )
            spool.seek(0)
            resp = web.StreamResponse(status=200)
            resp.content_type = "application/x-tar"
            await resp.prepare(request)
            while chunk := await asyncio.to_thread(spool.read, 1 << 20):
                await resp.write(chunk)
            await resp.write_eof()
            return resp

    async def update(self, request: web.Request) -> web.Response:
        """``docker update``: an UpdateConfig (Resources + RestartPolicy) → ``{"Warnings": [...]}``.
        (With the schema module, the body is decoded as ``schema.decode(raw, "ContainerUpdate")``.)"""
        body = schema.decode(await request.read(), "ContainerUpdate")
        warnings = await self._containers.update(request.match_info["ref"], body)
        return web.json_response({"Warnings": warnings})
