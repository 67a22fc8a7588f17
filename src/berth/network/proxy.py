"""Published ports: relays from a host address to a container's, in the daemon's event loop.

docker-proxy's job without its process per port: berthd listens on the host port and forwards — TCP
byte streams both ways, half-closes included; UDP datagrams, with one socket towards the container per
client so that replies find their way back (forgotten after 90 s without traffic, as docker-proxy
does). A daemon restart closes the listeners; restore opens them again.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import time
from dataclasses import dataclass
from typing import Protocol, cast

from berth.errors import Conflict

_CHUNK = 256 * 1024
UDP_IDLE_SECONDS = 90.0


@dataclass(slots=True)
class Binding:
    """One published port: ``host_ip:host_port`` → ``target_ip:target_port`` over ``proto``."""

    host_ip: str
    host_port: int
    target_ip: str
    target_port: int
    proto: str = "tcp"

    @property
    def listen_ip(self) -> str:
        # "" is every IPv4 address: one socket, so an ephemeral port is one port (None would be two)
        return self.host_ip or "0.0.0.0"


class Relay(Protocol):
    binding: Binding

    async def open(self) -> None: ...

    async def close(self) -> None: ...


def relay_for(binding: Binding) -> Relay:
    return UdpRelay(binding) if binding.proto == "udp" else TcpRelay(binding)


def _bind_error(binding: Binding, exc: OSError) -> Conflict:
    where = f"{binding.listen_ip}:{binding.host_port}"
    if exc.errno == errno.EADDRINUSE:
        return Conflict(f"Bind for {where} failed: port is already allocated")
    return Conflict(f"cannot listen on {where}/{binding.proto}: {exc.strerror}")


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


class TcpRelay:
    """Listens on one host port and relays each connection to the container."""

    def __init__(self, binding: Binding) -> None:
        self.binding = binding
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        try:
            self._server = await asyncio.start_server(
                self._serve, self.binding.listen_ip, self.binding.host_port, reuse_address=True
            )
        except OSError as exc:
            raise _bind_error(self.binding, exc) from None
        if self.binding.host_port == 0:  # an ephemeral port: the kernel chose it
            self.binding.host_port = int(self._server.sockets[0].getsockname()[1])

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)  # closed with the relay
        try:
            try:
                reader, writer = await asyncio.open_connection(
                    self.binding.target_ip, self.binding.target_port
                )
            except OSError:
                return  # nothing listens in the container: the client sees the connection close
            try:
                await asyncio.gather(_copy(client_reader, writer), _copy(reader, client_writer))
            finally:
                writer.close()
        finally:
            client_writer.close()
            self._connections.discard(task)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._connections):
            task.cancel()
        for task in list(self._connections):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


class _Upstream(asyncio.DatagramProtocol):
    """The socket towards the container for one client: its replies go back to that client."""

    def __init__(self, relay: UdpRelay, client: tuple[str, int]) -> None:
        self.relay, self.client = relay, client
        self.transport: asyncio.DatagramTransport | None = None
        self.last_seen = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # the selector's is not a subclass

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.last_seen = time.monotonic()
        self.relay.reply(data, self.client)

    def error_received(self, exc: Exception) -> None:
        pass  # e.g. ICMP port unreachable while nothing listens yet: UDP just drops


class UdpRelay(asyncio.DatagramProtocol):
    """Listens on one host UDP port; each client gets its own upstream socket to the container."""

    def __init__(self, binding: Binding) -> None:
        self.binding = binding
        self._transport: asyncio.DatagramTransport | None = None
        self._upstreams: dict[tuple[str, int], _Upstream] = {}
        self._pending: dict[tuple[str, int], list[bytes]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.TimerHandle | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: self, local_addr=(self.binding.listen_ip, self.binding.host_port)
            )
        except OSError as exc:
            raise _bind_error(self.binding, exc) from None
        self._transport = transport
        if self.binding.host_port == 0:
            self.binding.host_port = int(transport.get_extra_info("sockname")[1])
        self._sweeper = loop.call_later(UDP_IDLE_SECONDS / 3, self._sweep)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        upstream = self._upstreams.get(addr)
        if upstream is not None and upstream.transport is not None:
            upstream.last_seen = time.monotonic()
            upstream.transport.sendto(data)
            return
        if addr in self._pending:  # its upstream is being opened
            self._pending[addr].append(data)
            return
        self._pending[addr] = [data]
        task = asyncio.get_running_loop().create_task(self._connect(addr))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self, client: tuple[str, int]) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, upstream = await loop.create_datagram_endpoint(
                lambda: _Upstream(self, client),
                remote_addr=(self.binding.target_ip, self.binding.target_port),
            )
        except OSError:
            self._pending.pop(client, None)
            return
        self._upstreams[client] = upstream
        assert upstream.transport is not None
        for data in self._pending.pop(client, []):
            upstream.transport.sendto(data)

    def reply(self, data: bytes, client: tuple[str, int]) -> None:
        if self._transport is not None:
            self._transport.sendto(data, client)

    def _sweep(self) -> None:
        idle_since = time.monotonic() - UDP_IDLE_SECONDS
        for client, upstream in list(self._upstreams.items()):
            if upstream.last_seen < idle_since and upstream.transport is not None:
                upstream.transport.close()
                del self._upstreams[client]
        if self._transport is not None:
            self._sweeper = asyncio.get_running_loop().call_later(UDP_IDLE_SECONDS / 3, self._sweep)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        for task in list(self._tasks):
            task.cancel()
        for upstream in self._upstreams.values():
            if upstream.transport is not None:
                upstream.transport.close()
        self._upstreams.clear()
