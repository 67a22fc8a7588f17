"""Published ports: a TCP relay from a host address to a container's, in the daemon's event loop.

docker-proxy's job without its process per port: berthd listens on the host port and copies bytes
both ways, half-closes included. A daemon restart closes the listeners; restore opens them again.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
from dataclasses import dataclass

from berth.errors import Conflict

_CHUNK = 256 * 1024


@dataclass(slots=True)
class Binding:
    """One published port: ``host_ip:host_port`` → ``target_ip:target_port`` (TCP)."""

    host_ip: str
    host_port: int
    target_ip: str
    target_port: int


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


class Relay:
    """Listens on one host port and relays each connection to the container."""

    def __init__(self, binding: Binding) -> None:
        self.binding = binding
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        try:
            # "" is every IPv4 address: one socket, so an ephemeral port is one port (None would be two)
            self._server = await asyncio.start_server(
                self._serve, self.binding.host_ip or "0.0.0.0", self.binding.host_port, reuse_address=True
            )
        except OSError as exc:
            where = f"{self.binding.host_ip or '0.0.0.0'}:{self.binding.host_port}"
            if exc.errno == errno.EADDRINUSE:
                raise Conflict(f"Bind for {where} failed: port is already allocated") from None
            raise Conflict(f"cannot listen on {where}: {exc.strerror}") from None
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
