"""Pumping bytes between a hijacked HTTP connection and a container's (or exec's) stdio."""

from __future__ import annotations

import asyncio
import contextlib
import struct

from berth.daemon.server.hijack import HijackedStream
from berth.runtime.types import Attached

_CHUNK = 64 * 1024


def frame(stream: int, data: bytes) -> bytes:
    """Docker's stdcopy frame: ``[stream, 0, 0, 0, len:uint32 BE] + data`` (1 stdout, 2 stderr)."""
    return struct.pack(">BxxxI", stream, len(data)) + data


async def pump(attached: Attached, client: HijackedStream, *, stdin: bool) -> None:
    """Copy container output to the client until it ends; copy client input to the container meanwhile.
    The caller closes the client afterwards (exec first records the exit code the client will ask for).

    The output side decides when we are done: after the client half-closes stdin the container may
    still be printing (NOTES.md §4), so a closed input never cuts the output short.
    """

    async def to_container() -> None:
        try:
            while data := await client.inbound.read(_CHUNK):
                attached.writer.write(data)
                await attached.writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(OSError, RuntimeError):
                if attached.writer.can_write_eof():
                    attached.writer.write_eof()

    input_task = asyncio.get_running_loop().create_task(to_container()) if stdin else None
    try:
        while data := await attached.reader.read(_CHUNK):
            await client.send(data)
    except (ConnectionError, OSError):
        pass
    finally:
        if input_task is not None:
            input_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await input_task
        attached.writer.close()
        with contextlib.suppress(Exception):
            await attached.writer.wait_closed()
