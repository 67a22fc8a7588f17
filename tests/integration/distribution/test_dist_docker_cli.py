"""The real docker CLI drives the distribution routes (served by a minimal daemon app on a unix socket):
``docker login``, ``push``, ``search``, ``pull`` with token auth against a real berth-registry."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from dist_helpers import Registry, Store, layer_tar

from berth.daemon.server import middleware
from berth.daemon.server.router import ApiRouter
from berth.daemon.server.routes import distribution
from berth.distribution.service import RegistryService

pytestmark = [
    pytest.mark.root,  # unpacking layers chowns files to their owners
    pytest.mark.docker_cli,
    pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI"),
]


@dataclass
class CliDaemon:
    socket: Path
    config: Path
    store: Store

    async def docker(self, *args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            shutil.which("docker") or "docker",
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={
                "DOCKER_HOST": f"unix://{self.socket}",
                "DOCKER_CONFIG": str(self.config),
                "PATH": "/usr/bin:/bin",
            },
        )
        async with asyncio.timeout(120):
            out, err = await process.communicate(stdin)
        return process.returncode or 0, out.decode(), err.decode()


@pytest.fixture
async def cli_daemon(
    berth_registry: Registry, workdir: Path, make_store: Callable[..., Store]
) -> AsyncIterator[CliDaemon]:
    store = make_store(berth_registry.host)
    app = web.Application(middlewares=[middleware.headers_and_version, middleware.errors])
    router = ApiRouter(app)

    async def ping(request: web.Request) -> web.Response:
        return web.Response(text="OK" if request.method == "GET" else "")

    async def create(request: web.Request) -> web.StreamResponse:
        return await distribution.pull_stream(request, pull=store.pull)

    app.router.add_route("GET", "/_ping", ping)
    app.router.add_route("HEAD", "/_ping", ping)
    router.post("/images/create", create)
    distribution.register(
        router, pull=store.pull, push=store.push, registry=RegistryService(resolver=store.resolver)
    )
    runner = web.AppRunner(app)
    await runner.setup()
    sock = workdir / "berth.sock"
    await web.UnixSite(runner, str(sock)).start()
    try:
        yield CliDaemon(sock, workdir / "docker-config", store)
    finally:
        await runner.cleanup()


async def test_docker_cli_login_push_search_pull(cli_daemon: CliDaemon, berth_registry: Registry) -> None:
    host = berth_registry.host
    rc, out, err = await cli_daemon.docker(
        "login", "-u", "alice", "--password-stdin", host, stdin=b"alicepw\n"
    )
    assert rc == 0, err
    assert "Login Succeeded" in out
    auths = json.loads((cli_daemon.config / "config.json").read_text())["auths"]
    assert auths[host].get("identitytoken")  # the realm handed out a refresh token

    rc, _, err = await cli_daemon.docker("login", "-u", "alice", "--password-stdin", host, stdin=b"wrong\n")
    assert rc != 0 and "incorrect username or password" in err

    images = cli_daemon.store.images
    images.import_image(io.BytesIO(layer_tar({"hello": b"hi\n"})), repo=f"{host}/alice/cli", tag="v1")
    rc, out, err = await cli_daemon.docker("push", f"{host}/alice/cli:v1")
    assert rc == 0, err
    assert "v1: digest: sha256:" in out

    rc, out, err = await cli_daemon.docker("search", f"{host}/cli")
    assert rc == 0, err
    assert "alice/cli" in out

    images.delete(f"{host}/alice/cli:v1", force=True)
    rc, out, err = await cli_daemon.docker("pull", f"{host}/alice/cli:v1")
    assert rc == 0, err
    assert "Pull complete" in out and f"Downloaded newer image for {host}/alice/cli:v1" in out
    assert images.resolve(f"{host}/alice/cli:v1").repo_digests

    rc, _, err = await cli_daemon.docker("pull", f"{host}/alice/missing:v1")
    assert rc != 0 and "pull access denied" in err
