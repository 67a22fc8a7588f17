"""Docker's json-file log: its format and the writer the shim uses (``logread`` has the readers).

Each line of ``path`` is ``{"log": "<text incl. \\n>", "stream": "stdout"|"stderr", "time": RFC3339Nano}``.
Rotation keeps ``path`` (newest), ``path.1``, … ``path.<max_files-1>`` (oldest)::

    w = LogWriter(Path("c1-json.log"), max_size=10 << 20, max_files=3)
    w.write("stdout", b"hello\\nwor"); w.write("stdout", b"ld\\n"); w.close()
    # c1-json.log: {"log":"hello\\n","stream":"stdout","time":"…"}, then {"log":"world\\n",…}
"""

from __future__ import annotations

import json
import json.encoder
import os
import time
from pathlib import Path
from typing import NamedTuple

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
        self._append(out)

    def flush(self, stream: str) -> None:
        """Write a stream's unterminated last line (at EOF), as Docker does."""
        rest = self._partial.get(stream, b"")
        if rest:
            self._partial[stream] = b""
            self._append([encode_entry(stream, rest, rfc3339nano())])

    def _append(self, records: list[bytes]) -> None:
        """One write per file for many records (a chatty container sends thousands of lines per read),
        rotating between records, never inside one."""
        pending: list[bytes] = []
        for record in records:
            if self.max_size > 0 and self._size > 0 and self._size + len(record) > self.max_size:
                self._write_out(pending)
                pending = []
                self._rotate()
            pending.append(record)
            self._size += len(record)
        self._write_out(pending)

    def _write_out(self, records: list[bytes]) -> None:
        view = memoryview(b"".join(records))
        while view:
            view = view[os.write(self._fd, view) :]

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
