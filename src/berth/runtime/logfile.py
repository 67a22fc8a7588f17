"""Docker's json-file log: the writer the shim uses and the readers ``logs`` uses.

Each line of ``path`` is ``{"log": "<text incl. \\n>", "stream": "stdout"|"stderr", "time": RFC3339Nano}``.
Rotation keeps ``path`` (newest), ``path.1``, … ``path.<max_files-1>`` (oldest)::

    w = LogWriter(Path("c1-json.log"), max_size=10 << 20, max_files=3)
    w.write("stdout", b"hello\\nwor"); w.write("stdout", b"ld\\n"); w.close()
    [e.data for e in read_entries(Path("c1-json.log"))]        # [b"hello\\n", b"world\\n"]
"""

from __future__ import annotations

import json
import json.encoder
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # the shim imports this module; it must not pay for asyncio
    import asyncio

MAX_LINE = 16 * 1024  # Docker splits longer lines into partial messages of this size.


class LogEntry(NamedTuple):
    """One log message: ``stream`` is "stdout" or "stderr", ``data`` the raw bytes, ``time`` RFC3339Nano.
    A NamedTuple rather than a frozen dataclass: building 600k of them is ~3x cheaper."""

    stream: str
    data: bytes
    time: str


def rfc3339nano(ns: int | None = None) -> str:
    """UTC time with 9 fractional digits (fixed width, so strings sort like times)."""
    ns = time.time_ns() if ns is None else ns
    seconds, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{frac:09d}Z"


_quote = json.encoder.encode_basestring  # the C escaper: one call per line instead of json.dumps


def encode_entry(stream: str, data: bytes, stamp: str) -> bytes:
    """One json-file line, keys in Docker's order; invalid UTF-8 becomes U+FFFD as in Docker."""
    text = _quote(data.decode("utf-8", "replace"))
    return f'{{"log":{text},"stream":"{stream}","time":"{stamp}"}}\n'.encode()


class LogWriter:
    """Splits each stream into lines and appends json-file entries, rotating by size."""

    def __init__(self, path: Path, *, max_size: int = 20 << 20, max_files: int = 5) -> None:
        self.path = path
        self.max_size = max_size
        self.max_files = max(1, max_files)
        self._partial: dict[str, bytes] = {"stdout": b"", "stderr": b""}
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._size = os.fstat(self._fd).st_size

    def write(self, stream: str, data: bytes) -> None:
        buffered = self._partial.get(stream, b"") + data
        out: list[bytes] = []
        stamp = rfc3339nano()
        start = 0
        while True:
            end = buffered.find(b"\n", start)
            if end < 0:
                break
            line = buffered[start : end + 1]
            while len(line) > MAX_LINE:
                out.append(encode_entry(stream, line[:MAX_LINE], stamp))
                line = line[MAX_LINE:]
            out.append(encode_entry(stream, line, stamp))
            start = end + 1
        rest = buffered[start:]
        while len(rest) >= MAX_LINE:
            out.append(encode_entry(stream, rest[:MAX_LINE], stamp))
            rest = rest[MAX_LINE:]
        self._partial[stream] = rest
        for record in out:
            self._append(record)

    def flush(self, stream: str) -> None:
        """Write a stream's unterminated last line (at EOF), as Docker does."""
        rest = self._partial.get(stream, b"")
        if rest:
            self._partial[stream] = b""
            self._append(encode_entry(stream, rest, rfc3339nano()))

    def _append(self, record: bytes) -> None:
        if self.max_size > 0 and self._size > 0 and self._size + len(record) > self.max_size:
            self._rotate()
        os.write(self._fd, record)
        self._size += len(record)

    def _rotate(self) -> None:
        os.close(self._fd)
        if self.max_files > 1:
            for index in range(self.max_files - 1, 0, -1):
                source = self.path if index == 1 else self.path.with_name(f"{self.path.name}.{index - 1}")
                try:
                    os.replace(source, self.path.with_name(f"{self.path.name}.{index}"))
                except FileNotFoundError:
                    continue
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        else:
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
        self._fd = os.open(self.path, flags, 0o640)
        self._size = 0

    def close(self) -> None:
        for stream in self._partial:
            self.flush(stream)
        os.close(self._fd)


# -- readers ----------------------------------------------------------------------------------


def log_files(path: Path) -> list[Path]:
    """The rotated files then ``path``, oldest first."""
    rotated: list[tuple[int, Path]] = []
    for candidate in path.parent.glob(path.name + ".*"):
        suffix = candidate.name[len(path.name) + 1 :]
        if suffix.isdigit():
            rotated.append((int(suffix), candidate))
    files = [p for _, p in sorted(rotated, reverse=True)]
    if path.exists():
        files.append(path)
    return files


def _norm(stamp: str) -> str:
    """Normalise Docker's trimmed RFC3339Nano ("…:05.1Z") to 9 fractional digits for comparing."""
    if len(stamp) == 30 or not stamp.endswith("Z"):
        return stamp
    head, _, frac = stamp[:-1].partition(".")
    return f"{head}.{frac.ljust(9, '0')[:9]}Z"


def _stamp(seconds: float) -> str:
    return rfc3339nano(int(seconds * 1_000_000_000))


def _parse(line: bytes) -> LogEntry | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None  # a torn last line while the writer appends
    if not isinstance(record, dict):
        return None
    return LogEntry(
        str(record.get("stream", "stdout")), str(record.get("log", "")).encode(), str(record.get("time", ""))
    )


def _lines_backward(path: Path, block: int = 1 << 16) -> Iterator[bytes]:
    with open(path, "rb") as f:
        position = f.seek(0, os.SEEK_END)
        tail = b""
        while position > 0:
            step = min(block, position)
            position -= step
            f.seek(position)
            chunk = f.read(step) + tail
            lines = chunk.split(b"\n")
            tail = lines[0]
            for line in reversed(lines[1:]):
                if line:
                    yield line
        if tail:
            yield tail


def read_entries(
    path: Path, *, since: float | None = None, until: float | None = None, tail: int | None = None
) -> list[LogEntry]:
    """Every entry across rotated files, oldest first, with ``since <= time < until`` (Unix seconds);
    ``tail`` keeps only the last N (read backwards, so a large log's tail is cheap)."""
    low = _stamp(since) if since is not None else None
    high = _stamp(until) if until is not None else None

    def keep(entry: LogEntry) -> bool:
        if low is None and high is None:
            return True
        stamp = _norm(entry.time)
        return (low is None or stamp >= low) and (high is None or stamp < high)

    files = log_files(path)
    if tail is not None and tail >= 0:
        picked: deque[LogEntry] = deque()
        if tail == 0:
            return []
        for file in reversed(files):
            for line in _lines_backward(file):
                entry = _parse(line)
                if entry is None or not keep(entry):
                    if entry is not None and low is not None and _norm(entry.time) < low:
                        return list(picked)
                    continue
                picked.appendleft(entry)
                if len(picked) >= tail:
                    return list(picked)
        return list(picked)
    result: list[LogEntry] = []
    for file in files:
        if low is None and high is None:
            result.extend(_parse_file(file))
        else:
            result.extend(e for e in _parse_file(file) if keep(e))
    return result


def _parse_file(path: Path, chunk: int = 8 << 20) -> Iterator[LogEntry]:
    """Parse a whole file in large chunks: each chunk's lines become one JSON array decoded by a
    single json.loads call (about 3x faster than one call per line); a torn chunk falls back."""
    with open(path, "rb") as f:
        rest = b""
        while True:
            data = f.read(chunk)
            if not data:
                break
            data = rest + data
            cut = data.rfind(b"\n")
            if cut < 0:
                rest = data
                continue
            block, rest = data[:cut], data[cut + 1 :]
            try:
                records = json.loads(b"[" + block.replace(b"\n", b",") + b"]")
            except ValueError:
                parsed = [_parse(line) for line in block.split(b"\n")]
                yield from (e for e in parsed if e is not None)
                continue
            make = LogEntry
            for r in records:
                yield make(r.get("stream", "stdout"), r.get("log", "").encode(), r.get("time", ""))
        if rest.strip():
            entry = _parse(rest)
            if entry is not None:
                yield entry


async def follow(
    path: Path,
    *,
    since: float | None = None,
    tail: int | None = None,
    poll: float = 0.1,
    stop: asyncio.Event | None = None,
) -> AsyncIterator[LogEntry]:
    """Yield the existing entries (as ``read_entries``), then new ones as they are appended, across
    rotations, until ``stop`` is set (the caller sets it when the container stops)."""
    import asyncio

    existing = await asyncio.to_thread(read_entries, path, since=since, tail=tail)
    for entry in existing:
        yield entry
    fd: int | None = None
    inode = 0
    buffer = b""
    first = True
    try:
        while True:
            if fd is None:
                try:
                    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                except FileNotFoundError:
                    fd = None
                if fd is not None:
                    st = os.fstat(fd)
                    inode = st.st_ino
                    if first:
                        os.lseek(fd, st.st_size, os.SEEK_SET)  # skip what read_entries returned
                first = False
            chunk = os.read(fd, 1 << 20) if fd is not None else b""
            if chunk:
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    parsed = _parse(line)
                    if parsed is not None:
                        yield parsed
                continue
            try:
                rotated = os.stat(path).st_ino != inode
            except FileNotFoundError:
                rotated = True
            if rotated and fd is not None:
                os.close(fd)  # everything of the old file was read above
                fd, buffer = None, b""
                continue
            if stop is not None and stop.is_set():
                return
            await asyncio.sleep(poll)
    finally:
        if fd is not None:
            os.close(fd)
