"""The port relays on loopback (no containers needed): TCP half-closes and big transfers, refused
targets, closing, port clashes, and UDP replies finding their client."""

from __future__ import annotations

import asyncio
import socket

import pytest

from berth.errors import Conflict
from berth.network.proxy import Binding, TcpRelay, UdpRelay


async def _count_then_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Reads to EOF (the client's half-close), then answers how much it got and closes."""
    total = 0
    while chunk := await reader.read(1 << 16):
        total += len(chunk)
    writer.write(b"got %d" % total)
    await writer.drain()
    writer.close()


async def test_tcp_relay_carries_big_streams_and_half_closes() -> None:
    target = await asyncio.start_server(_count_then_answer, "127.0.0.1", 0)
    port = target.sockets[0].getsockname()[1]
    relay = TcpRelay(Binding("127.0.0.1", 0, "127.0.0.1", port))
    await relay.open()
    assert relay.binding.host_port != 0  # the ephemeral port chosen
    try:
        for size in (0, 10, 8 * 1024 * 1024):
            reader, writer = await asyncio.open_connection("127.0.0.1", relay.binding.host_port)
            writer.write(b"x" * size)
            await writer.drain()
            writer.write_eof()  # half-close: the answer must still come back
            assert await asyncio.wait_for(reader.read(), 10) == b"got %d" % size
            writer.close()
    finally:
        await relay.close()
        target.close()


async def test_tcp_relay_closes_on_a_refused_target_and_on_close() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        dead_port = unused.getsockname()[1]  # bound, never listening: connections are refused
        relay = TcpRelay(Binding("127.0.0.1", 0, "127.0.0.1", dead_port))
        await relay.open()
        reader, writer = await asyncio.open_connection("127.0.0.1", relay.binding.host_port)
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        await relay.close()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", relay.binding.host_port)


async def test_a_taken_port_is_dockers_error() -> None:
    first = TcpRelay(Binding("127.0.0.1", 0, "127.0.0.1", 9))
    await first.open()
    try:
        second = TcpRelay(Binding("127.0.0.1", first.binding.host_port, "127.0.0.1", 9))
        with pytest.raises(Conflict, match=r"Bind for 127\.0\.0\.1:\d+ failed: port is already allocated"):
            await second.open()
    finally:
        await first.close()


class _Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(b"echo:" + data, addr)  # type: ignore[attr-defined]


async def test_udp_replies_find_their_client() -> None:
    loop = asyncio.get_running_loop()
    echo, _ = await loop.create_datagram_endpoint(_Echo, local_addr=("127.0.0.1", 0))
    relay = UdpRelay(Binding("127.0.0.1", 0, "127.0.0.1", echo.get_extra_info("sockname")[1], "udp"))
    await relay.open()
    clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3)]
    try:
        for n, client in enumerate(clients):
            client.setblocking(False)
            await loop.sock_sendto(client, b"hi %d" % n, ("127.0.0.1", relay.binding.host_port))
        for n, client in enumerate(clients):
            data = await asyncio.wait_for(loop.sock_recv(client, 100), 5)
            assert data == b"echo:hi %d" % n  # each client got its own answer
    finally:
        for client in clients:
            client.close()
        await relay.close()
        echo.close()
