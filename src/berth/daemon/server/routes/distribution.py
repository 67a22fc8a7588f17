"""Registry endpoints of the Docker Engine API: push, login (``/auth``), search, and the pull stream that
``POST /images/create?fromImage=…`` hands over to (``pull_stream``).

Progress streams are JSON lines. The response starts with the first progress message, so an error
before it (no such image, no access, bad credentials) is an ordinary HTTP error with Docker's
``{"message"}``; an error after it is a last ``{"errorDetail": {"message"}, "error"}`` line (moby
``postImagesCreate``: ``if !output.Flushed() { return err }``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from berth.api.auth import decode_header
from berth.daemon.server.filters import parse_filters
from berth.daemon.server.middleware import SERVER_HEADERS, disk_full
from berth.daemon.server.router import ApiRouter
from berth.distribution.auth import Credentials
from berth.distribution.service import RegistryService
from berth.engine.images.pull import PullService
from berth.engine.images.push import PushService
from berth.errors import BerthError, InvalidArgument

log = logging.getLogger("berthd.distribution")


def credentials_of(request: web.Request) -> Credentials:
    """``X-Registry-Auth`` → Credentials (absent or ``{}`` → anonymous); 400 if it is not valid."""
    header = request.headers.get("X-Registry-Auth", "")
    try:
        return Credentials.from_auth_config(decode_header(header)) if header else Credentials()
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from exc


class ProgressStream:
    """A JSON-lines response that is only started by the first message (module docstring)."""

    def __init__(self, request: web.Request) -> None:
        self._request = request
        self.response: web.StreamResponse | None = None

    async def send(self, message: dict[str, Any]) -> None:
        if self.response is None:
            response = web.StreamResponse(headers={"Content-Type": "application/json", **SERVER_HEADERS})
            response.enable_chunked_encoding()
            await response.prepare(self._request)
            self.response = response
        await self.response.write(json.dumps(message).encode() + b"\r\n")

    async def run(self, work: Callable[[ProgressStream], Awaitable[None]]) -> web.StreamResponse:
        """Run ``work``; errors before the first message propagate (HTTP error), later ones are lines."""
        try:
            await work(self)
        except BerthError as exc:
            if self.response is None:
                raise
            log.info("%s %s: %s", self._request.method, self._request.path, exc)
            await self.send({"errorDetail": {"message": str(exc)}, "error": str(exc)})
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as exc:
            if self.response is None:
                raise
            full = disk_full(exc, f"{self._request.method} {self._request.path}")
            if full is not None:  # the machine's state, not a bug: one line, no traceback
                log.error("%s", full)
            else:
                log.exception("%s %s failed", self._request.method, self._request.path)
            message = full or f"internal error: {exc}"
            await self.send({"errorDetail": {"message": message}, "error": message})
        if self.response is None:
            await self.send({"status": ""})
        response = self.response
        if response is None:  # pragma: no cover - send() always starts the response
            raise web.HTTPInternalServerError()
        await response.write_eof()
        return response


async def pull_stream(request: web.Request, *, pull: PullService) -> web.StreamResponse:
    """``POST /images/create?fromImage=NAME&tag=TAG[&platform=os/arch]`` with ``X-Registry-Auth``:
    Docker's pull stream. The caller has already decided it is a pull (``fromImage`` is set)."""
    from_image = request.query.get("fromImage", "")
    ref = PullService.reference_of(from_image, request.query.get("tag", ""))
    credentials = credentials_of(request)
    platform = request.query.get("platform", "")

    async def work(stream: ProgressStream) -> None:
        await pull.pull(ref, credentials=credentials, progress=stream.send, platform=platform)

    return await ProgressStream(request).run(work)


def register(router: ApiRouter, *, pull: PullService, push: PushService, registry: RegistryService) -> None:
    """Routes: ``POST /images/{name}/push``, ``POST /auth``, ``GET /images/search``.

    ``pull`` is kept for symmetry; the lead's ``/images/create`` handler calls ``pull_stream``.
    """
    handlers = _Handlers(push, registry)
    router.post("/images/{name:.+}/push", handlers.push)
    router.post("/auth", handlers.auth)
    router.get("/images/search", handlers.search)


class _Handlers:
    def __init__(self, push: PushService, registry: RegistryService) -> None:
        self._push = push
        self._registry = registry

    async def push(self, request: web.Request) -> web.StreamResponse:
        credentials = credentials_of(request)
        refs = await asyncio.to_thread(
            self._push.plan, request.match_info["name"], request.query.get("tag", "")
        )

        async def work(stream: ProgressStream) -> None:
            for ref in refs:
                await self._push.push(ref, credentials=credentials, progress=stream.send)

        return await ProgressStream(request).run(work)

    async def auth(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError as exc:
            raise InvalidArgument(f"invalid JSON body: {exc}") from exc
        if not isinstance(body, dict):
            raise InvalidArgument("invalid JSON body: expected an object")
        token = await self._registry.login(Credentials.from_auth_config(body))
        return web.json_response({"Status": "Login Succeeded", "IdentityToken": token})

    async def search(self, request: web.Request) -> web.Response:
        term = request.query.get("term", "")
        raw_limit = request.query.get("limit", "") or "25"
        try:
            limit = int(raw_limit)
        except ValueError as exc:
            raise InvalidArgument(f"invalid limit {raw_limit!r}") from exc
        results = await self._registry.search(
            term,
            limit=limit,
            filters=parse_filters(request.query.get("filters")),
            credentials=credentials_of(request),
        )
        return web.json_response(results)
