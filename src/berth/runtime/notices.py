"""Notices from the shims to the daemon: what a container's monitor has to tell while it runs (a log it
cannot write, and when it can again), for the daemon's own log.

Each notice is one datagram on ``<runtime root>/notices.sock`` holding
``{"container_id": "…", "message": "…"}``. The daemon binds the socket (``receive``); a shim sends
(``send``, or the C monitor's ``notify``) and never waits: with no daemon listening (it is being
restarted) the notice is dropped, and the shim has written it to its own stderr (forkserver.log) too.

    async for container_id, message in receive(root / NOTICES_SOCK):
        log.warning("container %s: %s", container_id[:12], message)
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

from berth.util.unixsock import short_path

NOTICES_SOCK = "notices.sock"
_MAX_NOTICE = 4096


def send(path: str, container_id: str, message: str) -> None:
    """One notice to the daemon listening on ``path`` ("" for none); never blocks, never raises."""
    if not path:
        return
    data = json.dumps({"container_id": container_id, "message": message}).encode()[:_MAX_NOTICE]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.setblocking(False)
        with contextlib.suppress(OSError), short_path(path) as reachable:
            sock.sendto(data, reachable)  # no daemon (ENOENT, ECONNREFUSED) or a full queue: dropped


def _parse(data: bytes) -> tuple[str, str] | None:
    try:
        notice = json.loads(data)
    except ValueError:
        return None
    if not isinstance(notice, dict):
        return None
    container_id, message = notice.get("container_id"), notice.get("message")
    if not isinstance(container_id, str) or not isinstance(message, str):
        return None
    return container_id, message


async def receive(path: Path) -> AsyncIterator[tuple[str, str]]:
    """(container id, message) for each notice sent to ``path``, until cancelled; the socket is bound
    here (a stale one from a previous daemon replaced) and removed at the end. Malformed ones are skipped."""
    import asyncio  # here: the shims import this module and must not pay for asyncio

    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def readable() -> None:
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while True:
                queue.put_nowait(sock.recv(_MAX_NOTICE))

    try:
        with short_path(path) as reachable:
            sock.bind(reachable)
        os.chmod(path, 0o600)  # only root's shims speak here
        sock.setblocking(False)
        loop.add_reader(sock.fileno(), readable)
        try:
            while True:
                notice = _parse(await queue.get())
                if notice is not None:
                    yield notice
        finally:
            loop.remove_reader(sock.fileno())
    finally:
        sock.close()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
