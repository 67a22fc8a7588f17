"""``GET /containers/{id}/attach/ws``: websocket attach with a real websocket client (aiohttp's)."""

from __future__ import annotations

import asyncio

import aiohttp
import docker
import pytest

from tests.e2e.conftest import Daemon

pytestmark = pytest.mark.root


def _ws_url(container_id: str, query: str, version: str = "v1.50") -> str:
    return f"http://berth/{version}/containers/{container_id}/attach/ws?{query}"


async def _session(berthd: Daemon) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(berthd.socket)))


async def _receive_until(ws: aiohttp.ClientWebSocketResponse, wanted: bytes) -> list[aiohttp.WSMessage]:
    messages: list[aiohttp.WSMessage] = []
    seen = b""
    async with asyncio.timeout(15):
        while wanted not in seen:
            message = await ws.receive()
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                break
            messages.append(message)
            seen += message.data if isinstance(message.data, bytes) else str(message.data).encode()
    return messages


def test_ws_attach_stdin_and_output(berthd: Daemon, busybox_image: str) -> None:
    """stdin from the client's messages, stdout and stderr (never multiplexed) back as binary
    messages, one per write."""
    api = docker.APIClient(base_url=berthd.host, timeout=30)
    script = "while read line; do echo out:$line; echo err:$line >&2; done"
    container = api.create_container(busybox_image, ["sh", "-c", script], stdin_open=True)["Id"]
    api.start(container)

    async def scenario() -> None:
        url = _ws_url(container, "stream=1&stdin=1&stdout=1&stderr=1")
        async with await _session(berthd) as session, session.ws_connect(url) as ws:
            await ws.send_bytes(b"hello\n")
            messages = await _receive_until(ws, b"err:hello\n")
            assert all(m.type == aiohttp.WSMsgType.BINARY for m in messages)
            assert b"".join(m.data for m in messages).count(b"hello") == 2
            assert b"\x01\x00\x00\x00" not in b"".join(m.data for m in messages)  # no stdcopy frames
            await ws.send_str("text too\n")
            messages = await _receive_until(ws, b"err:text too\n")
            assert b"out:text too\n" in b"".join(m.data for m in messages)

    asyncio.run(scenario())
    api.remove_container(container, force=True)


def test_ws_attach_logs_of_a_stopped_container(berthd: Daemon, busybox_image: str) -> None:
    """``logs=1`` sends the stored log, one message per record; without ``stream`` it then closes."""
    api = docker.APIClient(base_url=berthd.host, timeout=30)
    container = api.create_container(busybox_image, ["sh", "-c", "echo one; echo two"])["Id"]
    api.start(container)
    api.wait(container)

    async def scenario() -> None:
        async with await _session(berthd) as session:
            async with session.ws_connect(_ws_url(container, "logs=1&stream=0")) as ws:
                messages = [m async for m in ws]
                assert [m.data for m in messages] == [b"one\n", b"two\n"]
            async with session.ws_connect(_ws_url(container, "logs=1", version="v1.27")) as ws:
                assert [m.data for m in [m async for m in ws]] == ["one\n", "two\n"]  # text before 1.28

    asyncio.run(scenario())


def test_ws_attach_tty_detach_keys(berthd: Daemon, busybox_image: str) -> None:
    api = docker.APIClient(base_url=berthd.host, timeout=30)
    container = api.create_container(busybox_image, ["cat"], stdin_open=True, tty=True)["Id"]
    api.start(container)

    async def scenario() -> None:
        async with await _session(berthd) as session:
            url = _ws_url(container, "stream=1&detachKeys=ctrl-x")
            async with session.ws_connect(url) as ws:
                await ws.send_bytes(b"echoed\n")
                await _receive_until(ws, b"echoed")
                await ws.send_bytes(b"\x18")  # ctrl-x: detach
                async with asyncio.timeout(10):
                    while (await ws.receive()).type not in (
                        aiohttp.WSMsgType.CLOSE,
                        aiohttp.WSMsgType.CLOSED,
                    ):
                        pass

    asyncio.run(scenario())
    assert api.inspect_container(container)["State"]["Running"]
    api.remove_container(container, force=True)
