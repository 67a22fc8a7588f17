"""``/containers/{id}/exec`` and ``/exec/{id}/…``: create, start (hijacked or detached), inspect, resize."""

from __future__ import annotations

from aiohttp import web

from berth.daemon.server import schema
from berth.daemon.server.hijack import hijack
from berth.daemon.server.router import ApiRouter
from berth.daemon.server.routes.containers import _int
from berth.daemon.server.streams import parse_detach_keys, pump
from berth.daemon.wiring import Services
from berth.runtime.errors import ExecFailed


def register(router: ApiRouter, services: Services) -> None:
    execs = services.execs

    async def create(request: web.Request) -> web.Response:
        instance = execs.create(request.match_info["ref"], schema.decode(await request.read(), "ExecCreate"))
        return web.json_response({"Id": instance.exec_id}, status=201)

    async def start(request: web.Request) -> web.StreamResponse:
        body = schema.decode(await request.read(), "ExecStart")
        exec_id = request.match_info["exec_id"]
        detach = bool(body.get("Detach"))
        stdin = bool(execs.get(exec_id).config.get("AttachStdin"))
        # Detach keys end a TTY exec session and leave the process running (as dockerd).
        keys = parse_detach_keys(execs.get(exec_id).config.get("DetachKeys")) if stdin else None
        instance, attached = await execs.prepare(exec_id, attach=not detach)
        if detach or attached is None:
            await execs.start(instance)
            return web.Response(status=200)
        client = await hijack(request, tty=instance.tty)
        try:
            try:
                await execs.start(instance)
            except ExecFailed as exc:
                # Docker reports a failed exec inside the stream, then the client reads ExitCode.
                message = f"OCI runtime exec failed: {exc}\r\n".encode()
                await client.send(
                    message
                    if instance.tty
                    else b"\x02\x00\x00\x00" + len(message).to_bytes(4, "big") + message
                )
                return client.response
            detached = await pump(attached, client, stdin=stdin, detach_keys=keys if instance.tty else None)
            if not detached:
                await execs.wait(instance)
        finally:
            await client.close()
        return client.response

    async def inspect(request: web.Request) -> web.Response:
        return web.json_response(execs.get(request.match_info["exec_id"]).to_json())

    async def resize(request: web.Request) -> web.Response:
        await execs.resize(request.match_info["exec_id"], _int(request, "h") or 0, _int(request, "w") or 0)
        return web.Response(status=201)

    router.post("/containers/{ref}/exec", create)
    router.post("/exec/{exec_id}/start", start)
    router.get("/exec/{exec_id}/json", inspect)
    router.post("/exec/{exec_id}/resize", resize)
