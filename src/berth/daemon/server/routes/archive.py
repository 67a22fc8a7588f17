"""``/containers/{ref}/archive`` (``cp``: HEAD stat, GET tar out, PUT tar in) and ``POST /commit``."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import json
import os
import threading
from collections.abc import AsyncIterator

from aiohttp import web

from berth.daemon.server import schema
from berth.daemon.server.bodies import BodyReader
from berth.daemon.server.router import ApiRouter
from berth.daemon.wiring import Services
from berth.engine.containers import archive
from berth.engine.containers.container import Container
from berth.errors import Conflict, Internal, InvalidArgument, NotFound
from berth.util.idshift import IdShift

_STAT_HEADER = "X-Docker-Container-Path-Stat"
_CHUNK = 1 << 20


def register(router: ApiRouter, services: Services) -> None:
    routes = _ArchiveRoutes(services)
    router.get("/containers/{ref}/archive", routes.get_archive)  # also answers HEAD
    router.put("/containers/{ref}/archive", routes.put_archive)
    router.post("/commit", routes.commit)


def _bool(request: web.Request, name: str, default: bool = False) -> bool:
    value = request.query.get(name, "").strip().lower()
    if value == "":
        return default
    return value not in {"0", "false", "no", "none"}


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _path_error(exc: OSError, path: str, ref: str) -> Exception:
    if isinstance(exc, FileNotFoundError):
        return NotFound(f"Could not find the file {path} in container {ref}")
    if isinstance(exc, NotADirectoryError):
        return InvalidArgument(f"lstat {path}: not a directory")
    if exc.errno == errno.EROFS:
        return InvalidArgument("mounted volume is marked read-only")
    if exc.errno == errno.ENAMETOOLONG:  # fuzzing: an over-long ?path= is bad input (400), not a 500
        return InvalidArgument(f"lstat {path}: file name too long")
    if exc.errno == errno.ENOSPC:
        return Internal(f"copying to {ref}:{path}: no space left on device")
    return Internal(f"{path}: {exc.strerror or exc}")


class _ArchiveRoutes:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._commits = services.commits

    @contextlib.asynccontextmanager
    async def _root(self, container: Container) -> AsyncIterator[int]:
        """The container root's fd; a stopped container's snapshot stays mounted (and locked) meanwhile."""
        if container.status.is_alive():
            if not container.pid:
                raise Conflict(f"container {container.short_id} has no process yet")
            with contextlib.ExitStack() as stack:
                yield stack.enter_context(archive.container_root(container.pid, None, container.directory))
            return
        async with container.lock:
            if container.status.is_alive():  # started while we waited
                with contextlib.ExitStack() as stack:
                    yield stack.enter_context(
                        archive.container_root(container.pid, None, container.directory)
                    )
                return
            mounts = await asyncio.to_thread(self._services.images.snapshotter.mounts, container.snapshot_key)
            # from the container's mount points, not its last start: a created container has volumes too
            binds = await asyncio.to_thread(self._services.containers.archive_binds, container)
            stack = contextlib.ExitStack()
            fd = await asyncio.to_thread(
                stack.enter_context, archive.container_root(0, mounts, container.directory, binds)
            )
            try:
                yield fd
            finally:
                await asyncio.to_thread(stack.close)

    async def get_archive(self, request: web.Request) -> web.StreamResponse:
        ref = request.match_info["ref"]
        path = request.query.get("path", "")
        if not path:
            raise InvalidArgument("path parameter is required")  # Docker's wording for an empty path
        if "\x00" in path:  # fuzzing: a NUL made os.stat raise ValueError -> 500
            raise InvalidArgument(f"invalid path {path!r}: NUL byte")
        container = self._services.containers.get(ref)
        async with self._root(container) as root_fd:
            try:
                stat = await asyncio.to_thread(archive.stat_path, root_fd, path)
            except OSError as exc:
                raise _path_error(exc, path, ref) from exc
            header = base64.b64encode(json.dumps(stat).encode()).decode()
            if request.method == "HEAD":
                return web.Response(status=200, headers={_STAT_HEADER: header})
            resp = web.StreamResponse(status=200, headers={_STAT_HEADER: header})
            resp.content_type = "application/x-tar"
            await resp.prepare(request)
            await self._stream_tar(resp, root_fd, path, self._services.containers.id_shift(container))
            await resp.write_eof()
            return resp

    async def _stream_tar(
        self, resp: web.StreamResponse, root_fd: int, path: str, shift: IdShift | None
    ) -> None:
        """Tar ``path`` on a thread of its own (never waiting for the shared pool) through a pipe."""
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        writer = os.fdopen(write_fd, "wb", buffering=_CHUNK)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def finish(error: BaseException | None) -> None:
            if not done.done():
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(error)

        def produce() -> None:
            error: BaseException | None = None
            try:
                archive.write_archive(root_fd, path, writer, shift)
            except BaseException as exc:  # handed to the event loop, which logs or ignores it
                error = exc
            finally:
                with contextlib.suppress(OSError):
                    writer.close()
                loop.call_soon_threadsafe(finish, error)

        os.set_blocking(read_fd, False)

        async def read_chunk() -> bytes:
            while True:
                try:
                    return os.read(read_fd, _CHUNK)
                except BlockingIOError:
                    ready: asyncio.Future[None] = loop.create_future()
                    loop.add_reader(read_fd, _wake, ready)
                    try:
                        await ready
                    finally:
                        loop.remove_reader(read_fd)

        threading.Thread(target=produce, name="berth-cp-tar", daemon=True).start()
        try:
            while chunk := await read_chunk():
                await resp.write(chunk)
        finally:
            os.close(read_fd)  # a producer still writing gets EPIPE and stops
            with contextlib.suppress(OSError):
                await done

    async def put_archive(self, request: web.Request) -> web.Response:
        ref = request.match_info["ref"]
        path = request.query.get("path", "")
        if not path:
            raise InvalidArgument("path parameter is required")
        if "\x00" in path:  # fuzzing: a NUL in the path is bad input (400), not a 500
            raise InvalidArgument(f"invalid path {path!r}: NUL byte")
        no_overwrite = _bool(request, "noOverwriteDirNonDir")
        copy_uid_gid = _bool(request, "copyUIDGID")
        container = self._services.containers.get(ref)
        if container.host_config.get("ReadonlyRootfs"):
            raise InvalidArgument("container rootfs is marked read-only")
        body = BodyReader(request, asyncio.get_running_loop())
        user = str(container.config.get("User") or "")
        shift = self._services.containers.id_shift(container)
        async with self._root(container) as root_fd:

            def extract() -> None:
                owner = archive.container_user(root_fd, user) if copy_uid_gid and user else None
                archive.extract_archive(
                    root_fd,
                    path,
                    body,  # type: ignore[arg-type]  # duck-typed read()
                    no_overwrite_dir_non_dir=no_overwrite,
                    owner=owner,
                    shift=shift,
                )

            try:
                await asyncio.to_thread(extract)
            except OSError as exc:
                raise _path_error(exc, path, ref) from exc
        self._services.events.publish(
            "container",
            "extract-to-dir",
            container.container_id,
            {"name": container.name.removeprefix("/"), "image": container.image},
        )
        return web.Response(status=200)

    async def commit(self, request: web.Request) -> web.Response:
        query = request.query
        ref = query.get("container", "")
        if not ref:
            raise InvalidArgument("container parameter is required")
        raw = await request.read()
        config = schema.decode(raw, "Commit") if raw.strip() and raw.strip() != b"null" else None
        record = await self._commits.commit(
            ref,
            repo=query.get("repo", ""),
            tag=query.get("tag", ""),
            author=query.get("author", ""),
            comment=query.get("comment", ""),
            pause=_bool(request, "pause", True),
            changes=query.getall("changes", []),
            config=config,
        )
        return web.json_response({"Id": record.image_id}, status=201)
