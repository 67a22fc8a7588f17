"""A blob whose connection breaks mid-body is resumed with ``Range: bytes=N-`` (as dockerd's puller
does), through a redirect to an object store too; a registry that ignores ``Range`` is skipped ahead;
a body that never gets further fails with what was received. Real aiohttp servers on loopback ports."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from berth.distribution.auth import Credentials
from berth.distribution.blobstream import MAX_STALLED_RESUMES
from berth.distribution.client import RegistryClient
from berth.distribution.errors import DigestMismatch, TruncatedStream
from berth.distribution.resolver import Endpoint
from berth.oci.digest import of_bytes
from berth.oci.image import Descriptor

_LAYER = os.urandom(2_000_000)
_DESCRIPTOR = Descriptor("application/vnd.oci.image.layer.v1.tar+gzip", of_bytes(_LAYER), len(_LAYER))

# How a server answers the n-th GET of the blob (0-based) given its Range start: (status, bytes to send
# before the connection is cut or None for all of them, payload override or None).
Behaviour = Callable[[int, int], tuple[int, int | None, bytes | None]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class _Server:
    url: str
    ranges: list[str] = field(default_factory=list)  # the Range header of each GET ("" if none)
    behaviour: list[Behaviour] = field(default_factory=list)


@asynccontextmanager
async def _serving(route: str, handler: Handler) -> AsyncIterator[str]:
    """An aiohttp server on a free loopback port answering GETs of ``route``; yields its URL."""
    app = web.Application()
    app.router.add_get(route, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def _answer(request: web.Request, server: _Server) -> web.StreamResponse:
    wanted = request.headers.get("Range", "")
    server.ranges.append(wanted)
    start = int(wanted.removeprefix("bytes=").rstrip("-")) if wanted else 0
    status, cut, payload = server.behaviour[0](len(server.ranges) - 1, start)
    data = payload if payload is not None else _LAYER
    body = data[start:] if status == 206 else data
    response = web.StreamResponse(status=status, headers={"Content-Type": "application/octet-stream"})
    if status == 206:
        response.headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
    response.content_length = len(body)
    await response.prepare(request)
    await response.write(body if cut is None else body[:cut])
    if cut is not None:
        await asyncio.sleep(0.1)  # the client takes what was sent, so where it breaks is known
        assert request.transport is not None
        request.transport.close()  # the connection breaks, the announced length not reached
        return response
    await response.write_eof()
    return response


@pytest.fixture
async def store() -> AsyncIterator[_Server]:
    """An object store's URL that answers the blob as ``behaviour`` says."""
    server = _Server("")

    async def get(request: web.Request) -> web.StreamResponse:
        return await _answer(request, server)

    async with _serving("/bucket/blob", get) as server.url:
        yield server


@pytest.fixture
async def registry(store: _Server) -> AsyncIterator[_Server]:
    """A registry that serves the blob itself, or (``behaviour`` empty) redirects to ``store``."""
    server = _Server("")

    async def get(request: web.Request) -> web.StreamResponse:
        if not request.path.startswith("/v2/app/blobs/"):
            return web.json_response({})
        if not server.behaviour:
            raise web.HTTPTemporaryRedirect(f"{store.url}/bucket/blob?X-Amz-Signature=abc")
        return await _answer(request, server)

    async with _serving("/{tail:.*}", get) as server.url:
        yield server


async def _pull(registry: _Server) -> tuple[bytes, int]:
    host = registry.url.removeprefix("http://")
    async with RegistryClient(
        endpoint=Endpoint(host=host, base_url=registry.url), credentials=Credentials()
    ) as client:
        got = bytearray()
        async with client.open_blob("app", _DESCRIPTOR) as blob:
            while chunk := await blob.read(1 << 16):
                got += chunk
            return bytes(got), blob.resumes


def _cut_first(at: int) -> Behaviour:
    return lambda n, start: (206 if start else 200, at if n == 0 else None, None)


async def test_a_broken_blob_is_resumed_where_it_broke(registry: _Server) -> None:
    registry.behaviour.append(_cut_first(700_000))
    got, resumes = await _pull(registry)
    assert got == _LAYER
    assert resumes == 1
    assert registry.ranges == ["", "bytes=700000-"]


async def test_a_blob_breaking_again_and_again_with_progress_still_arrives(registry: _Server) -> None:
    # each answer breaks 300 kB further on: seven resumes, each bringing bytes
    registry.behaviour.append(lambda n, start: (206 if start else 200, 300_000 if n < 6 else None, None))
    got, resumes = await _pull(registry)
    assert got == _LAYER
    assert resumes == 6
    assert registry.ranges[1:] == [f"bytes={300_000 * k}-" for k in range(1, 7)]


async def test_a_registry_that_ignores_range_is_skipped_ahead(registry: _Server) -> None:
    # always 200 from the first byte: the bytes already hashed are dropped, the rest completes the blob
    registry.behaviour.append(lambda n, start: (200, 700_000 * (n + 1) if n < 2 else None, None))
    got, resumes = await _pull(registry)
    assert got == _LAYER
    assert resumes == 2


async def test_the_resume_follows_the_redirect_to_the_object_store(registry: _Server, store: _Server) -> None:
    store.behaviour.append(_cut_first(1_234_567))
    got, resumes = await _pull(registry)
    assert got == _LAYER
    assert resumes == 1
    assert store.ranges == ["", "bytes=1234567-"]


async def test_a_body_that_never_gets_further_fails_with_what_arrived(registry: _Server) -> None:
    registry.behaviour.append(lambda n, start: (200, 500_000, None))
    started = time.monotonic()
    with pytest.raises(TruncatedStream, match="truncated: received 500000 of 2000000 bytes"):
        await _pull(registry)
    assert len(registry.ranges) == 1 + MAX_STALLED_RESUMES
    assert time.monotonic() - started < 5


async def test_bytes_changed_after_the_resume_fail_the_digest(registry: _Server) -> None:
    changed = _LAYER[:1_500_000] + b"\x00" * 500_000
    registry.behaviour.append(lambda n, start: (206 if start else 200, 700_000 if n == 0 else None, changed))
    with pytest.raises(DigestMismatch):
        await _pull(registry)


async def test_a_resume_answered_503_is_tried_again(registry: _Server) -> None:
    def flaky(n: int, start: int) -> tuple[int, int | None, bytes | None]:
        if n == 0:
            return 200, 700_000, None
        return (503, None, b"busy") if n == 1 else (206, None, None)

    registry.behaviour.append(flaky)
    got, resumes = await _pull(registry)
    assert got == _LAYER
    assert resumes == 2
    assert registry.ranges == ["", "bytes=700000-", "bytes=700000-"]
