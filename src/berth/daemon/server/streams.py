"""Pumping bytes between a hijacked HTTP connection and a container's (or exec's) stdio."""

from __future__ import annotations

import asyncio
import contextlib
import struct

from berth.daemon.server.hijack import HijackedStream
from berth.errors import InvalidArgument
from berth.runtime.types import Attached

_CHUNK = 64 * 1024


def frame(stream: int, data: bytes) -> bytes:
    """Docker's stdcopy frame: ``[stream, 0, 0, 0, len:uint32 BE] + data`` (1 stdout, 2 stderr)."""
    return struct.pack(">BxxxI", stream, len(data)) + data


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


async def pump(
    attached: Attached, client: HijackedStream, *, stdin: bool, detach_keys: bytes | None = None
) -> bool:
    """Copy container output to the client until it ends; copy client input to the container meanwhile.
    The caller closes the client afterwards (exec first records the exit code the client will ask for).

    The output side decides when we are done: after the client half-closes stdin the container may
    still be printing (NOTES.md §4), so a closed input never cuts the output short.

    ``detach_keys`` (TTY sessions, as dockerd): when the client types them the session ends at once,
    the process keeps running, and True is returned.
    """
    detached = asyncio.Event()
    escape = EscapeProxy(detach_keys) if detach_keys else None

    async def to_container() -> None:
        try:
            while data := await client.inbound.read(_CHUNK):
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

    async def from_container() -> None:
        try:
            while data := await attached.reader.read(_CHUNK):
                await client.send(data)
        except (ConnectionError, OSError):
            pass

    loop = asyncio.get_running_loop()
    input_task = loop.create_task(to_container()) if stdin else None
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
