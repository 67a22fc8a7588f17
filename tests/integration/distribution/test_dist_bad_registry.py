"""A misbehaving registry (a small aiohttp server on loopback): every fault is a clear error, nothing of the
bad image is stored, and the image the tag named before stays intact."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from dist_helpers import Store, layer_tar, sha

from berth.distribution.errors import (
    DigestMismatch,
    OversizedContent,
    RegistryUnavailable,
    TooManyRedirects,
    TruncatedStream,
)
from berth.errors import BerthError
from berth.oci import reference


@dataclass
class FakeImage:
    manifest: bytes
    blobs: dict[str, bytes] = field(default_factory=dict)
    layers: list[str] = field(default_factory=list)


def make_image(seed: str, layers: int = 2) -> FakeImage:
    image = FakeImage(b"")
    descs, diffs = [], []
    for i in range(layers):
        tar = layer_tar({f"{seed}/{i}.txt": f"{seed} layer {i}\n".encode() * 5000})
        blob = gzip.compress(tar, mtime=0)
        image.blobs[sha(blob)] = blob
        image.layers.append(sha(blob))
        descs.append(
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": sha(blob),
                "size": len(blob),
            }
        )
        diffs.append(sha(tar))
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": diffs},
            "config": {},
        }
    ).encode()
    image.blobs[sha(config)] = config
    image.manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha(config),
                "size": len(config),
            },
            "layers": descs,
        }
    ).encode()
    return image


class FakeRegistry:
    """Serves ``image`` for ``fake/app:latest``, misbehaving as ``mode`` says."""

    def __init__(self) -> None:
        self.image = make_image("good")
        self.mode = "good"
        self.requests: list[str] = []
        self.ranges: list[str] = []  # the Range header of every blob GET ("" without one)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v2/", self.ping)
        app.router.add_route("*", "/v2/fake/app/manifests/{ref}", self.manifest)
        app.router.add_get("/v2/fake/app/blobs/{digest}", self.blob)
        app.router.add_get("/loop/{n}", self.loop)
        return app

    async def ping(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({})

    async def manifest(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request.path)
        data = self.image.manifest
        if self.mode == "big-manifest":
            data = json.dumps(
                {"schemaVersion": 2, "layers": [], "annotations": {"x": "y" * (5 << 20)}}
            ).encode()
        return web.Response(
            body=data,
            headers={
                "Content-Type": "application/vnd.oci.image.manifest.v1+json",
                "Docker-Content-Digest": sha(data),
            },
        )

    async def loop(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPTemporaryRedirect(f"/loop/{int(request.match_info['n']) + 1}")

    async def _cut_once(self, request: web.Request, data: bytes) -> web.StreamResponse:
        """The first GET breaks after a third of the blob; later ones answer their Range (206)."""
        wanted = request.headers.get("Range", "")
        if not wanted:
            response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
            response.content_length = len(data)
            await response.prepare(request)
            await response.write(data[: len(data) // 3])
            await asyncio.sleep(0.1)  # the client takes what was sent, so where it breaks is known
            assert request.transport is not None
            request.transport.close()
            return response
        start = int(wanted.removeprefix("bytes=").rstrip("-"))
        return web.Response(
            status=206,
            body=data[start:],
            headers={"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"},
        )

    async def blob(self, request: web.Request) -> web.StreamResponse:
        digest = request.match_info["digest"]
        self.requests.append(request.path)
        data = self.image.blobs.get(digest)
        if data is None:
            raise web.HTTPNotFound()
        is_layer = digest in self.image.layers
        last_layer = is_layer and digest == self.image.layers[-1]
        self.ranges.append(request.headers.get("Range", ""))
        if self.mode == "cut-once" and last_layer:
            return await self._cut_once(request, data)
        if self.mode == "wrong-digest" and last_layer:
            data = data[:-9] + b"\x00" * 9
        if self.mode == "redirect-loop" and last_layer:
            raise web.HTTPTemporaryRedirect("/loop/0")
        if self.mode == "500" and last_layer:
            raise web.HTTPInternalServerError(text="storage backend exploded")
        if self.mode == "too-long" and last_layer:
            data = data + b"extra bytes"
        if self.mode == "truncated" and last_layer:
            response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
            response.content_length = len(data)
            await response.prepare(request)
            await response.write(data[: len(data) // 2])
            assert request.transport is not None
            request.transport.close()
            return response
        if self.mode == "short-chunked" and last_layer:
            response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            await response.write(data[: len(data) // 2])
            await response.write_eof()
            return response
        return web.Response(body=data, headers={"Content-Type": "application/octet-stream"})


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeRegistry, str]]:
    registry = FakeRegistry()
    runner = web.AppRunner(registry.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield registry, f"127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def _state(store: Store) -> tuple[set[str], set[str], int]:
    blobs = {info.digest for info in store.images.content.walk()}
    snapshots = {info.key for info in store.images.snapshotter.list()}
    return blobs, snapshots, len(store.images.records())


@pytest.mark.root  # unpacking layers chowns files to their owners
@pytest.mark.parametrize(
    ("mode", "error", "match"),
    [
        ("wrong-digest", DigestMismatch, "digest mismatch"),
        ("truncated", TruncatedStream, "truncated"),
        ("short-chunked", TruncatedStream, "truncated"),
        ("too-long", BerthError, "more than|bytes"),
        ("big-manifest", OversizedContent, "over the 4194304 byte limit"),
        ("redirect-loop", TooManyRedirects, "too many redirects"),
        ("500", RegistryUnavailable, "HTTP 500"),
    ],
)
async def test_bad_registry_stores_nothing(
    fake: tuple[FakeRegistry, str],
    make_store: Callable[..., Store],
    mode: str,
    error: type[BaseException],
    match: str,
) -> None:
    registry, host = fake
    store = make_store(host)
    ref = reference.parse(f"{host}/fake/app:latest")
    previous = await store.pull.pull(ref)
    before = _state(store)
    registry.image = make_image("bad")
    registry.mode = mode
    with pytest.raises(error, match=match):
        await store.pull.pull(ref)
    assert _state(store) == before
    assert store.images.resolve(str(ref)).image_id == previous.record.image_id
    assert not list((store.images.root / "content" / "ingest").iterdir())
    registry.mode = "good"
    repaired = await store.pull.pull(ref)
    assert repaired.record.image_id != previous.record.image_id


async def test_a_layer_whose_connection_breaks_is_resumed_with_range(
    fake: tuple[FakeRegistry, str], make_store: Callable[..., Store]
) -> None:
    """As dockerd does: the rest of the layer is asked for with ``Range``, not the whole layer again,
    and the image pulled is the registry's, byte for byte (its digests were checked on the way)."""
    registry, host = fake
    store = make_store(host)
    registry.mode = "cut-once"
    ref = reference.parse(f"{host}/fake/app:latest")
    pulled = await store.pull.pull(ref)
    last = registry.image.blobs[registry.image.layers[-1]]
    assert registry.ranges.count(f"bytes={len(last) // 3}-") == 1
    assert store.images.resolve(str(ref)).image_id == pulled.record.image_id
    assert not list((store.images.root / "content" / "ingest").iterdir())
