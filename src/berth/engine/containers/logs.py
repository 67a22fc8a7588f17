"""``logs``: a container's log as Docker streams it (filters, tail, timestamps, details, follow).

As dockerd does, every log record (one line, or one 16 KiB piece of a longer one) is its own
message, so without a TTY each becomes one stdcopy frame: ``echo a; echo b`` reads back as two frames.
With a TTY the stream is raw bytes, where record boundaries cannot be seen, so records are decoded
in large blocks there (``logread``'s merge), which is ~5x faster on a large log.
"""

from __future__ import annotations

import asyncio
import itertools
import struct
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from itertools import chain, repeat
from typing import TYPE_CHECKING
from urllib.parse import quote_plus

from berth.engine.containers import logconfig
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
    details: bool = False
    since: float | None = None
    until: float | None = None
    tail: int | None = None


def _details(attrs: dict[str, str] | None) -> bytes:
    """moby's attrsByteSlice: ``k=v`` pairs sorted by key, query-escaped, joined by commas; then
    the space that separates them from the line (there even when there are none)."""
    pairs = sorted((attrs or {}).items())
    return ",".join(f"{quote_plus(k, safe='')}={quote_plus(v, safe='')}" for k, v in pairs).encode() + b" "


def _render(entry: logfile.LogEntry, query: LogQuery) -> tuple[int, bytes] | None:
    stream = STDERR if entry.stream == "stderr" else STDOUT
    if (stream == STDOUT and not query.stdout) or (stream == STDERR and not query.stderr):
        return None
    data = entry.data
    if query.details:
        data = _details(entry.attrs) + data
    if query.timestamps:
        data = entry.time.encode() + b" " + data
    return stream, data


async def stream_logs(
    service: ContainerService, container: Container, query: LogQuery
) -> AsyncIterator[tuple[int, bytes]]:
    """Yield (stream, bytes) pairs, one per log record (see the module docstring); with ``follow``,
    keep going until the container stops. A driver that stores nothing raises ReadingNotSupported."""
    async for batch in log_batches(service, container, query):
        for rendered in batch:
            yield rendered


async def log_batches(
    service: ContainerService, container: Container, query: LogQuery
) -> AsyncIterator[list[tuple[int, bytes]]]:
    """``stream_logs`` in batches (what one read of the log brought): one write each for a client."""
    path = logconfig.readable_log(container)
    merge = container.tty and not query.timestamps and not query.details
    if query.follow and container.status.is_alive():
        exited = container.next_exit_event()
        plain = query.until is None and not query.timestamps and not query.details
        wanted = {s for s, on in (("stdout", query.stdout), ("stderr", query.stderr)) if on}
        async for entries in logread.follow_batches(
            path, since=query.since, tail=query.tail, merge=merge and query.until is None, stop=exited
        ):
            if plain:  # the usual `logs -f`: no per-record work but picking the streams
                if picked := [(_CODES[e.stream], e.data) for e in entries if e.stream in wanted]:
                    yield picked
                continue
            out: list[tuple[int, bytes]] = []
            for entry in entries:
                if query.until is not None and _seconds(entry) >= query.until:
                    if out:
                        yield out
                    return
                if rendered := _render(entry, query):
                    out.append(rendered)
            if out:
                yield out
        return
    records = logread.read_entries(path, since=query.since, until=query.until, tail=query.tail, merge=merge)
    size = 16 if merge else 4096  # merged entries are blocks of up to 1 MB
    while batch := await asyncio.to_thread(list, itertools.islice(records, size)):
        # decoding blocks is CPU: off the loop
        if out := [rendered for entry in batch if (rendered := _render(entry, query))]:
            yield out


_HEADER = struct.Struct(">BxxxI")
_CODES = {"stdout": STDOUT, "stderr": STDERR}


def _frames(runs: Iterator[tuple[str, list[bytes]]], query: LogQuery, size: int) -> bytes:
    """stdcopy frames, one per record, for about ``size`` bytes of records from ``runs``."""
    out: list[bytes] = []
    total = 0
    pack = _HEADER.pack
    for stream, records in runs:
        code = STDERR if stream == "stderr" else STDOUT
        if (code == STDOUT and not query.stdout) or (code == STDERR and not query.stderr):
            continue
        lengths = list(map(len, records))
        # header, record, header, record…: built by C loops (map, zip, chain), not a Python one per line
        out += chain.from_iterable(zip(map(pack, repeat(code), lengths), records, strict=True))
        total += sum(lengths)
        if total >= size:
            break
    return b"".join(out)


async def framed_logs(
    service: ContainerService, container: Container, query: LogQuery, *, size: int = 256 * 1024
) -> AsyncIterator[bytes]:
    """``logs`` of a container without a TTY as stdcopy bytes, one frame per record, in chunks of
    about ``size``. The whole log read plainly (no follow, filters, timestamps or details) is
    decoded in blocks (``logread.read_runs``); anything else goes record by record."""
    plain = query.since is None and query.until is None and query.tail is None
    if query.follow and plain and not (query.timestamps or query.details) and container.status.is_alive():
        # the usual `logs -f`: whole blocks of records decoded and framed at once, as they come
        exited = container.next_exit_event()
        async for appended in logread.follow_runs(logconfig.readable_log(container), stop=exited):
            if chunk := _frames(iter(appended), query, size=1 << 62):
                yield chunk
        return
    if query.follow or query.timestamps or query.details or not plain:
        pack = _HEADER.pack
        async for records in log_batches(service, container, query):
            codes, datas = zip(*records, strict=True)
            yield b"".join(chain.from_iterable(zip(map(pack, codes, map(len, datas)), datas, strict=True)))
        return
    runs = logread.read_runs(logconfig.readable_log(container))
    while chunk := await asyncio.to_thread(_frames, runs, query, size):  # CPU: off the loop
        yield chunk


def _seconds(entry: logfile.LogEntry) -> float:
    return parse_rfc3339(entry.time)
