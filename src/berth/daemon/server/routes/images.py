"""Image endpoints of the Docker Engine API: list, create (import; pull is wired later), inspect, delete,
tag, history, save (get), load, prune. The work happens in ``ImageService`` on worker threads; request
and response bodies stream between the loop and those threads (``BodyReader``, ``_LoopWriter``).

Names in paths may hold slashes and colons (``/images/localhost:5000/a/b:tag/json``): regex variables.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from berth.api.versions import parse as parse_version
from berth.daemon.server.bodies import BodyReader
from berth.daemon.server.filters import parse_filters, query_bool
from berth.daemon.server.router import ApiRouter
from berth.daemon.server.routes import distribution
from berth.engine.images import ImageService
from berth.engine.images.pull import PullService
from berth.errors import InvalidArgument, NotSupported

_CHUNK = 1 << 20


def register(router: ApiRouter, images: ImageService, *, pull: PullService | None = None) -> None:
    handlers = _Handlers(images, pull)
    router.get("/images/json", handlers.list_images)
    router.post("/images/create", handlers.create)
    router.get("/images/get", handlers.save_many)
    router.post("/images/load", handlers.load)
    router.post("/images/prune", handlers.prune)
    router.get("/images/{name:.+}/json", handlers.inspect)
    router.get("/images/{name:.+}/history", handlers.history)
    router.get("/images/{name:.+}/get", handlers.save_one)
    router.post("/images/{name:.+}/tag", handlers.tag)
    router.delete("/images/{name:.+}", handlers.delete)


def _api_version(request: web.Request) -> tuple[int, int]:
    raw = request.match_info.get("api_version")
    return parse_version(raw) if raw else (1, 50)


class _LoopWriter:
    """A blocking, buffered ``write`` for worker threads that streams into an aiohttp response."""

    def __init__(self, response: web.StreamResponse, loop: asyncio.AbstractEventLoop) -> None:
        self._response = response
        self._loop = loop
        self._buffer = bytearray()

    def write(self, data: bytes) -> int:
        self._buffer += data
        if len(self._buffer) >= _CHUNK:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self._buffer:
            chunk, self._buffer = bytes(self._buffer), bytearray()
            asyncio.run_coroutine_threadsafe(self._response.write(chunk), self._loop).result()


def _json_lines(lines: list[dict[str, Any]]) -> web.Response:
    body = b"".join(json.dumps(line).encode() + b"\r\n" for line in lines)
    return web.Response(body=body, content_type="application/json")


class _Handlers:
    def __init__(self, images: ImageService, pull: PullService | None) -> None:
        self.images = images
        self.pull = pull

    async def list_images(self, request: web.Request) -> web.Response:
        filters = parse_filters(request.query.get("filters"))
        if "filter" in request.query:  # API < 1.28 "filter=name"
            filters.setdefault("reference", []).append(request.query["filter"])
        summaries = await asyncio.to_thread(
            self.images.list_images, query_bool(request, "all"), filters, query_bool(request, "digests")
        )
        if _api_version(request) < (1, 44):
            for item in summaries:
                item["RepoTags"] = item["RepoTags"] or ["<none>:<none>"]
                item["RepoDigests"] = item["RepoDigests"] or ["<none>@<none>"]
        return web.json_response(summaries)

    async def create(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("fromImage"):
            if self.pull is None:  # an app built without a registry client (the store's unit tests)
                raise NotSupported("this daemon has no registry client: pulling is not available")
            return await distribution.pull_stream(request, pull=self.pull)
        source = request.query.get("fromSrc", "")
        if source != "-":
            if source:
                raise NotSupported(f"importing from a URL is not supported: {source}")
            raise InvalidArgument("fromImage or fromSrc is required")
        repo = request.query.get("repo", "")
        tag = request.query.get("tag", "")
        changes = request.query.getall("changes", [])
        message = request.query.get("message", "")
        reader = BodyReader(request, asyncio.get_running_loop())
        record = await asyncio.to_thread(
            lambda: self.images.import_image(reader, repo=repo, tag=tag, changes=changes, message=message)  # type: ignore[arg-type]
        )
        return _json_lines([{"status": record.image_id}])

    async def inspect(self, request: web.Request) -> web.Response:
        return web.json_response(await asyncio.to_thread(self.images.inspect, request.match_info["name"]))

    async def history(self, request: web.Request) -> web.Response:
        return web.json_response(await asyncio.to_thread(self.images.history, request.match_info["name"]))

    async def delete(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        records = await asyncio.to_thread(
            lambda: self.images.delete(
                name, force=query_bool(request, "force"), prune=not query_bool(request, "noprune")
            )
        )
        return web.json_response(records)

    async def tag(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        repo = request.query.get("repo", "")
        if not repo:
            raise InvalidArgument("repository name must have at least one component")
        await asyncio.to_thread(self.images.tag, name, repo, request.query.get("tag", ""))
        return web.Response(status=201)

    async def save_many(self, request: web.Request) -> web.StreamResponse:
        names = request.query.getall("names", [])
        if not names:
            raise InvalidArgument("no image names given")
        return await self._save(request, names)

    async def save_one(self, request: web.Request) -> web.StreamResponse:
        return await self._save(request, [request.match_info["name"]])

    async def _save(self, request: web.Request, names: list[str]) -> web.StreamResponse:
        plan = await asyncio.to_thread(self.images.plan_save, names)
        response = web.StreamResponse(headers={"Content-Type": "application/x-tar"})
        await response.prepare(request)
        writer = _LoopWriter(response, asyncio.get_running_loop())

        def write() -> None:
            self.images.write_save(plan, writer)  # type: ignore[arg-type]  # duck-typed writer
            writer.flush()

        await asyncio.to_thread(write)
        await response.write_eof()
        return response

    async def load(self, request: web.Request) -> web.Response:
        reader = BodyReader(request, asyncio.get_running_loop())
        messages = await asyncio.to_thread(self.images.load, reader)  # type: ignore[arg-type]
        return _json_lines([{"stream": line + "\n"} for line in messages])

    async def prune(self, request: web.Request) -> web.Response:
        filters = parse_filters(request.query.get("filters"))
        return web.json_response(await asyncio.to_thread(self.images.prune, filters))
