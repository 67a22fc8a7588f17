"""Pumping bytes between a hijacked HTTP connection (or a websocket) and a container's (or exec's) stdio."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator, Callable

from aiohttp import WSMsgType, web

from berth.daemon.server.hijack import HijackedStream
from berth.errors import InvalidArgument
from berth.runtime.types import Attached

_CHUNK = 64 * 1024


def frame(stream: int, data: bytes) -> bytes:
    """Docker's stdcopy frame: ``[stream, 0, 0, 0, len:uint32 BE] + data`` (1 stdout, 2 stderr)."""
    return struct.pack(">BxxxI", stream, len(data)) + data


class Deframer:
    """Splits a stdcopy stream back into ``(stream, payload)`` pairs, whatever the reads' sizes."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buffer = self._buffer + data
        out: list[tuple[int, bytes]] = []
        start = 0
        while len(buffer) - start >= 8:
            stream, size = struct.unpack_from(">BxxxI", buffer, start)
            if len(buffer) - start - 8 < size:
                break
            out.append((stream, buffer[start + 8 : start + 8 + size]))
            start += 8 + size
        self._buffer = buffer[start:]
        return out

    def raw(self, data: bytes) -> bytes:
        """The payloads only (a TTY-style raw stream of framed output)."""
        return b"".join(payload for _, payload in self.feed(data))


def framed_as_stdout(data: bytes) -> bytes:
    """A raw (TTY) stream's bytes as one stdout frame, for a client that asked for frames."""
    return frame(1, data)


DEFAULT_DETACH_KEYS = b"\x10\x11"  # ctrl-p, ctrl-q
_CTRL_SPECIAL = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}


def parse_detach_keys(spec: str | None) -> bytes:
    """Docker's ``detachKeys``: ``ctrl-p,ctrl-q``, ``a``, ``ctrl-@``… → the bytes to watch for.
    Empty means the default (ctrl-p ctrl-q); malformed raises InvalidArgument as dockerd does."""
    if not spec:
        return DEFAULT_DETACH_KEYS
    out = bytearray()
    for key in spec.split(","):
        key = key.strip()
        lowered = key.lower()
        if len(key) == 1:
            out.append(ord(key))
        elif lowered.startswith("ctrl-") and len(key) == 6 and "a" <= lowered[5] <= "z":
            out.append(ord(lowered[5]) - ord("a") + 1)
        elif lowered.startswith("ctrl-") and len(key) == 6 and key[5] in _CTRL_SPECIAL:
            out.append(_CTRL_SPECIAL[key[5]])
        else:
            raise InvalidArgument(f"Invalid detach keys ({spec}) provided")
    return bytes(out)


class EscapeProxy:
    """Watches stdin for the detach sequence (moby's ``term.EscapeProxy``): bytes that may start the
    sequence are held back; if the sequence completes they are swallowed, otherwise passed on."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """(bytes to forward, whether the sequence was typed)."""
        if not self.held and self.keys[:1] not in data:
            return data, False
        out = bytearray()
        for byte in data:
            if byte == self.keys[len(self.held)]:
                self.held += bytes((byte,))
                if self.held == self.keys:
                    self.held = b""
                    return bytes(out), True
                continue
            out += self.held
            self.held = b""
            if byte == self.keys[0]:
                self.held = bytes((byte,))
            else:
                out.append(byte)
        return bytes(out), False


async def _to_stdin(
    chunks: AsyncIterator[bytes], attached: Attached, escape: EscapeProxy | None, detached: asyncio.Event
) -> None:
    """The client's input to the container's stdin; at its end an EOF, unless the detach keys were
    typed (``detached`` is set then, and the process keeps its stdin)."""
    try:
        async for chunk in chunks:
            data = chunk
            if escape is not None:
                data, typed = escape.feed(data)
                if typed:
                    detached.set()
                    return
            if data:
                attached.writer.write(data)
                await attached.writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        if not detached.is_set():
            with contextlib.suppress(OSError, RuntimeError):
                if attached.writer.can_write_eof():
                    attached.writer.write_eof()


async def pump(
    attached: Attached,
    client: HijackedStream,
    *,
    stdin: bool,
    detach_keys: bytes | None = None,
    convert: Callable[[bytes], bytes] | None = None,
) -> bool:
    """Copy container output to the client until it ends; copy client input to the container meanwhile.
    The caller closes the client afterwards (exec first records the exit code the client will ask for).

    The output side decides when we are done: after the client half-closes stdin the container may
    still be printing (NOTES.md §4), so a closed input never cuts the output short.

    ``detach_keys`` (TTY sessions, as dockerd): when the client types them the session ends at once,
    the process keeps running, and True is returned.

    ``convert`` reshapes the output on its way (an exec started with another ``Tty`` than it was
    created with: raw bytes framed as stdout, or frames unwrapped).
    """
    detached = asyncio.Event()
    escape = EscapeProxy(detach_keys) if detach_keys else None

    async def inbound() -> AsyncIterator[bytes]:
        while data := await client.inbound.read(_CHUNK):
            yield data

    async def from_container() -> None:
        try:
            while data := await attached.reader.read(_CHUNK):
                if convert is not None:
                    data = convert(data)
                if data:
                    await client.send(data)
        except (ConnectionError, OSError):
            pass

    loop = asyncio.get_running_loop()
    input_task = loop.create_task(_to_stdin(inbound(), attached, escape, detached)) if stdin else None
    output_task = loop.create_task(from_container())
    detach_task = loop.create_task(detached.wait())
    try:
        await asyncio.wait({output_task, detach_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (input_task, output_task, detach_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        attached.writer.close()
        with contextlib.suppress(Exception):
            await attached.writer.wait_closed()
    return detached.is_set()


async def ws_pump(
    attached: Attached, ws: web.WebSocketResponse, *, framed: bool, binary: bool, detach_keys: bytes | None
) -> bool:
    """``attach/ws``: container output to the websocket, one message per write and never
    multiplexed (stdout and stderr alike, as dockerd); the client's messages to the container's
    stdin. Ends when the output ends or the client closes; True when the detach keys were typed."""
    escape = EscapeProxy(detach_keys) if detach_keys else None
    deframer = Deframer() if framed else None
    detached = asyncio.Event()

    async def send(payload: bytes) -> None:
        if binary:
            await ws.send_bytes(payload)
        else:
            await ws.send_str(payload.decode("utf-8", "replace"))

    async def from_container() -> None:
        try:
            while data := await attached.reader.read(_CHUNK):
                for payload in [p for _, p in deframer.feed(data)] if deframer else [data]:
                    await send(payload)
        except (ConnectionError, OSError):
            pass

    async def inbound() -> AsyncIterator[bytes]:
        async for message in ws:
            if message.type == WSMsgType.BINARY:
                yield bytes(message.data)
            elif message.type == WSMsgType.TEXT:
                yield str(message.data).encode()

    loop = asyncio.get_running_loop()
    to_container = _to_stdin(inbound(), attached, escape, detached)
    tasks = {loop.create_task(from_container()), loop.create_task(to_container)}
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        attached.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await attached.writer.wait_closed()
    return detached.is_set()
