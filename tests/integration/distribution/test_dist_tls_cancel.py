"""HTTPS endpoints verify certificates (CAs from a certs.d directory); a cancelled pull leaves nothing."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web
from dist_helpers import USERS, Store, layer_tar, sha, start_tls_berth_registry

from berth.distribution.auth import Credentials
from berth.distribution.errors import RegistryUnavailable
from berth.distribution.resolver import Endpoint
from berth.distribution.tls import client_factory
from berth.oci import reference


async def test_https_endpoint_verifies_certificates(workdir: Path) -> None:
    registry, ca = start_tls_berth_registry(workdir / "tls-root", USERS)
    try:
        endpoint = Endpoint(registry.host, f"https://{registry.host}")
        alice = Credentials(username="alice", password="alicepw")
        async with client_factory()(endpoint, alice) as client:
            with pytest.raises(RegistryUnavailable, match="certificate verify failed"):
                await client.ping()
        certs = workdir / "certs.d"
        (certs / registry.host).mkdir(parents=True)
        shutil.copy(ca, certs / registry.host / "ca.crt")
        async with client_factory(certs_dir=certs)(endpoint, alice) as client:
            await client.ping()
            assert await client.login()
            digest, _ = await client.upload_blob("alice/tls", b"over https")
            assert await client.blob_exists("alice/tls", digest)
    finally:
        registry.stop()


@pytest.fixture
async def stalling() -> AsyncIterator[tuple[str, asyncio.Event]]:
    """A registry whose second layer sends half its bytes, then stalls forever."""
    tars = [layer_tar({f"{i}.bin": bytes([i]) * 400_000}) for i in range(2)]
    config = (
        b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["'
        + sha(tars[0]).encode()
        + b'","'
        + sha(tars[1]).encode()
        + b'"]}}'
    )
    blobs = {sha(b): b for b in [*tars, config]}
    layers = ",".join(
        f'{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{sha(t)}","size":{len(t)}}}'
        for t in tars
    )
    manifest = (
        '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
        f'"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{sha(config)}",'
        f'"size":{len(config)}}},"layers":[{layers}]}}'
    ).encode()
    halfway = asyncio.Event()

    async def get_manifest(request: web.Request) -> web.StreamResponse:
        return web.Response(body=manifest, content_type="application/vnd.oci.image.manifest.v1+json")

    async def get_blob(request: web.Request) -> web.StreamResponse:
        data = blobs[request.match_info["digest"]]
        if data is not tars[1]:
            return web.Response(body=data)
        response = web.StreamResponse()
        response.content_length = len(data)
        await response.prepare(request)
        await response.write(data[: len(data) // 2])
        halfway.set()
        await asyncio.sleep(3600)
        return response

    app = web.Application()
    app.router.add_get("/v2/x/manifests/{ref}", get_manifest)
    app.router.add_get("/v2/x/blobs/{digest}", get_blob)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"127.0.0.1:{runner.addresses[0][1]}", halfway
    finally:
        await runner.cleanup()


@pytest.mark.root  # unpacking layers chowns files to their owners
async def test_cancelled_pull_stores_nothing(
    stalling: tuple[str, asyncio.Event], make_store: Callable[..., Store]
) -> None:
    host, halfway = stalling
    store = make_store(host)
    task = asyncio.ensure_future(store.pull.pull(reference.parse(f"{host}/x:latest")))
    async with asyncio.timeout(30):
        await halfway.wait()
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert list(store.images.content.walk()) == []
    assert store.images.snapshotter.list() == []
    assert store.images.records() == []
    assert not list((store.images.root / "content" / "ingest").iterdir())
