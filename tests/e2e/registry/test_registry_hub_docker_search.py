"""``docker search`` (the real docker CLI) through berthd's ``GET /images/search`` (its distribution routes
served by a minimal daemon app on a unix socket) against a real berth-registry: DESCRIPTION, STARS and the
``stars`` and ``is-official`` filters."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from registry_e2e_helpers import RunningRegistry, basic, push_image

from berth.daemon.server import middleware
from berth.daemon.server.router import ApiRouter
from berth.daemon.server.routes import distribution
from berth.distribution.resolver import RegistryResolver
from berth.distribution.service import RegistryService
from berth.engine.events import EventBus
from berth.engine.images import ImageService
from berth.engine.images.pull import PullService
from berth.engine.images.push import PushService

DOCKER = shutil.which("docker")
pytestmark = pytest.mark.skipif(DOCKER is None, reason="needs the docker CLI")
ALICE = basic("alice", "alicepw")


@pytest.fixture
async def daemon_socket(running: RunningRegistry, tmp_path: Path) -> AsyncIterator[Path]:
    events = EventBus()
    images = ImageService(tmp_path / "store", events=events, in_use=dict)
    resolver = RegistryResolver(default_registry=running.host)
    pull = PullService(images=images, resolver=resolver, events=events)
    push = PushService(images=images, resolver=resolver, cache_dir=tmp_path / "cache", events=events)
    app = web.Application(middlewares=[middleware.headers_and_version, middleware.errors])

    async def ping(request: web.Request) -> web.Response:
        return web.Response(text="OK" if request.method == "GET" else "")

    app.router.add_route("GET", "/_ping", ping)
    app.router.add_route("HEAD", "/_ping", ping)
    distribution.register(ApiRouter(app), pull=pull, push=push, registry=RegistryService(resolver=resolver))
    runner = web.AppRunner(app)
    await runner.setup()
    sock = tmp_path / "berth.sock"
    await web.UnixSite(runner, str(sock)).start()
    try:
        yield sock
    finally:
        await runner.cleanup()
        pull.close()
        images.close()


async def _docker(sock: Path, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        DOCKER or "docker",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={
            "DOCKER_HOST": f"unix://{sock}",
            "DOCKER_CONFIG": str(sock.parent / "cfg"),
            "PATH": "/usr/bin:/bin",
        },
    )
    async with asyncio.timeout(60):
        out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode()


def _star(running: RunningRegistry, repo: str, user: str) -> None:
    status, _, body = running.request(
        "PUT", f"/api/v1/repositories/{repo}/star", headers=basic(user, f"{user}pw")
    )
    assert status == 200, body


async def test_docker_search_shows_description_and_stars_and_filters(
    running: RunningRegistry, daemon_socket: Path
) -> None:
    for repo, text in (("alice/tool-one", "The first tool"), ("alice/tool-two", "The second tool")):
        push_image(running, repo, "v1", repo.encode(), ALICE, {"org.opencontainers.image.description": text})
        assert running.cli("repo", "visibility", repo, "public").returncode == 0
    _star(running, "alice/tool-two", "alice")
    _star(running, "alice/tool-two", "bob")
    _star(running, "alice/tool-one", "bob")

    rc, out, err = await _docker(daemon_socket, "search", "--no-trunc", f"{running.host}/tool")
    assert rc == 0, err
    lines = [line.split() for line in out.strip().splitlines()]
    assert lines[0] == ["NAME", "DESCRIPTION", "STARS", "OFFICIAL"]
    # more stars first; the description and STARS as the registry has them
    assert lines[1] == ["alice/tool-two", "The", "second", "tool", "2"]
    assert lines[2] == ["alice/tool-one", "The", "first", "tool", "1"]

    rc, out, err = await _docker(
        daemon_socket,
        "search",
        "--filter",
        "stars=2",
        "--format",
        "{{.Name}} {{.StarCount}}",
        f"{running.host}/tool",
    )
    assert rc == 0, err
    assert out.split("\n")[:-1] == ["alice/tool-two 2"]
    rc, out, _ = await _docker(
        daemon_socket, "search", "--filter", "is-official=true", f"{running.host}/tool"
    )
    assert rc == 0 and out.strip().splitlines() == ["NAME      DESCRIPTION   STARS     OFFICIAL"]
    rc, out, _ = await _docker(
        daemon_socket,
        "search",
        "--filter",
        "is-official=false",
        "--format",
        "{{json .}}",
        f"{running.host}/tool",
    )
    assert rc == 0 and [json.loads(line)["Name"] for line in out.splitlines()] == [
        "alice/tool-two",
        "alice/tool-one",
    ]

    rc, _, err = await _docker(daemon_socket, "search", "--filter", "stars=many", f"{running.host}/tool")
    assert rc != 0 and "invalid filter 'stars=many'" in err
    rc, _, err = await _docker(daemon_socket, "search", "--filter", "color=red", f"{running.host}/tool")
    assert rc != 0 and "invalid filter 'color'" in err
