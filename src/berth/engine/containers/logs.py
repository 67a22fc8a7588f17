"""``logs``: a container's json-file log as Docker streams it (filters, tail, timestamps, follow)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from berth.engine.containers.container import Container, parse_rfc3339
from berth.runtime import logfile, logread

if TYPE_CHECKING:
    from berth.engine.containers.service import ContainerService

STDOUT, STDERR = 1, 2


@dataclass(frozen=True, slots=True)
class LogQuery:
    stdout: bool
    stderr: bool
    follow: bool = False
    timestamps: bool = False
    since: float | None = None
    until: float | None = None
    tail: int | None = None


def _render(entry: logfile.LogEntry, query: LogQuery) -> tuple[int, bytes] | None:
    stream = STDERR if entry.stream == "stderr" else STDOUT
    if (stream == STDOUT and not query.stdout) or (stream == STDERR and not query.stderr):
        return None
    data = entry.data
    if query.timestamps:
        data = entry.time.encode() + b" " + data
    return stream, data


async def stream_logs(
    service: ContainerService, container: Container, query: LogQuery
) -> AsyncIterator[tuple[int, bytes]]:
    """Yield (stream, bytes) pairs; with ``follow``, keep going until the container stops.

    Unless every line needs its own timestamp (or, following, its own ``until`` check), a pair may
    hold many lines of one stream: a large log is decoded in blocks, not line by line (``logread``).
    """
    if query.follow and container.status.is_alive():
        exited = container.next_exit_event()
        merge = not query.timestamps and query.until is None
        async for entry in logread.follow(
            container.log_path, since=query.since, tail=query.tail, merge=merge, stop=exited
        ):
            if query.until is not None and _seconds(entry) >= query.until:
                return
            rendered = _render(entry, query)
            if rendered:
                yield rendered
        return
    entries = logread.read_entries(
        container.log_path,
        since=query.since,
        until=query.until,
        tail=query.tail,
        merge=not query.timestamps,
    )
    while batch := await asyncio.to_thread(
        list, itertools.islice(entries, 16)
    ):  # decoding blocks is CPU: off the loop
        for entry in batch:
            rendered = _render(entry, query)
            if rendered:
                yield rendered


def _seconds(entry: logfile.LogEntry) -> float:
    return parse_rfc3339(entry.time)
