"""Published ports: relays from a host address to a container's, in the daemon's event loop.

docker-proxy's job without its process per port: berthd listens on the host port and forwards — TCP
byte streams both ways, half-closes included; UDP datagrams, with one socket towards the container per
client so that replies find their way back (forgotten after 90 s without traffic, as docker-proxy
does). A daemon restart closes the listeners; restore opens them again.
"""

from __future__ import annotations

import asyncio
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


class _Half(asyncio.Protocol):
    """One socket of a relayed TCP connection; what it reads, its peer writes. Flow control crosses
    over (a full peer pauses our reading), and so do half-closes: EOF read here is EOF written there,
    and a socket closes once it has both read and written EOF."""

    def __init__(self, live: set[_Half]) -> None:
        self.live = live  # the relay's open sockets, closed with it
        self.transport: asyncio.Transport | None = None
        self.peer: _Half | None = None
        self.read_eof = self.wrote_eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.pause_reading()  # nothing to forward to until linked
        self.live.add(self)

    def link(self, peer: _Half) -> None:
        self.peer, peer.peer = peer, self
        for half in (self, peer):
            if half.transport is not None:
                half.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.write(data)

    def eof_received(self) -> bool:
        self.read_eof = True
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer.wrote_eof:
            if peer.transport.can_write_eof():
                peer.transport.write_eof()
            peer.wrote_eof = True
            if peer.read_eof:
                peer.transport.close()
        if self.wrote_eof and self.transport is not None:
            self.transport.close()
        return True  # keep the other direction open

    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()
        self.transport = None
        self.live.discard(self)


class TcpRelay:
    """Listens on one host port and relays each connection to the container (asyncio protocols, no
    streams: a connection costs an accept, a connect and two small objects)."""

    def __init__(self, binding: Binding) -> None:
        self.binding = binding
        self._server: asyncio.Server | None = None
        self._halves: set[_Half] = set()
        self._connecting: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                self._accepted, self.binding.listen_ip, self.binding.host_port, reuse_address=True
            )
        except OSError as exc:
            raise _bind_error(self.binding, exc) from None
        if self.binding.host_port == 0:  # an ephemeral port: the kernel chose it
            self.binding.host_port = int(self._server.sockets[0].getsockname()[1])

    def _accepted(self) -> _Half:
        client = _Half(self._halves)
        task = asyncio.get_running_loop().create_task(self._connect(client))
        self._connecting.add(task)  # referenced until done: the loop keeps tasks only weakly
        task.add_done_callback(self._connecting.discard)
        return client

    async def _connect(self, client: _Half) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, upstream = await loop.create_connection(
                lambda: _Half(self._halves), self.binding.target_ip, self.binding.target_port
            )
        except OSError:  # nothing listens in the container: the client sees the connection close
            if client.transport is not None:
                client.transport.close()
            return
        if client.transport is None:  # the client left meanwhile
            if upstream.transport is not None:
                upstream.transport.close()
            return
        client.link(upstream)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._connecting):
            task.cancel()
        for half in list(self._halves):
            if half.transport is not None:
                half.transport.close()
        self._halves.clear()


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
