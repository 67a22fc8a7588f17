"""``/containers/{id}/exec`` and ``/exec/{id}/…``: create, start (hijacked or detached), inspect, resize."""

from __future__ import annotations

import logging

from aiohttp import web

from berth.daemon.server import schema
from berth.daemon.server.hijack import hijack
from berth.daemon.server.router import ApiRouter
from berth.daemon.server.routes.containers import _int
from berth.daemon.server.streams import Deframer, framed_as_stdout, parse_detach_keys, pump
from berth.daemon.wiring import Services
from berth.errors import BerthError, InvalidArgument
from berth.runtime.errors import ExecFailed

log = logging.getLogger("berthd.api")


def register(router: ApiRouter, services: Services) -> None:
    execs = services.execs

    async def create(request: web.Request) -> web.Response:
        body = schema.decode(await request.read(), "ExecCreate")  # field names as Go reads them
        if body.get("DetachKeys"):  # checked at create, as dockerd does
            try:
                parse_detach_keys(str(body["DetachKeys"]))
            except InvalidArgument:
                raise InvalidArgument(f"Invalid escape keys ({body['DetachKeys']}) provided") from None
        instance = execs.create(request.match_info["ref"], body)
        return web.json_response({"Id": instance.exec_id}, status=201)

    async def start(request: web.Request) -> web.StreamResponse:
        body = schema.decode(await request.read(), "ExecStart")
        exec_id = request.match_info["exec_id"]
        detach = bool(body.get("Detach"))
        config = execs.get(exec_id).config
        stdin = bool(config.get("AttachStdin"))
        # As dockerd: the process has a terminal if the exec was *created* with Tty; the start's Tty
        # only chooses the stream's shape (raw when true, stdcopy frames when false). A start body
        # without Tty keeps the exec's own.
        tty_stream = bool(body["Tty"]) if "Tty" in body else bool(config.get("Tty"))
        # Start's ConsoleSize [h, w] sizes the terminal before the process runs; none without Tty.
        console = execs.console_size(body.get("ConsoleSize")) if tty_stream else None
        # Detach keys end a TTY exec session and leave the process running (as dockerd).
        keys = parse_detach_keys(config.get("DetachKeys")) if stdin else None
        instance, attached = await execs.prepare(exec_id, attach=not detach, console_size=console)
        if detach or attached is None:
            await execs.start(instance)
            return web.Response(status=200)
        convert = None
        if tty_stream != instance.tty:
            convert = Deframer().raw if tty_stream else framed_as_stdout
        client = await hijack(request, tty=tty_stream)
        try:
            try:
                await execs.start(instance)
            except BerthError as exc:  # ExecFailed, or the runtime's own failure
                # Docker reports a failed exec inside the stream (the answer is already a hijacked
                # stream: a status code can no longer say it), then the client reads ExitCode.
                if not isinstance(exc, ExecFailed):
                    log.warning("exec %s: %s", exec_id, exc)
                message = f"OCI runtime exec failed: {exc}\r\n".encode()
                await client.send(
                    message if tty_stream else b"\x02\x00\x00\x00" + len(message).to_bytes(4, "big") + message
                )
                return client.response
            detached = await pump(
                attached, client, stdin=stdin, detach_keys=keys if instance.tty else None, convert=convert
            )
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
