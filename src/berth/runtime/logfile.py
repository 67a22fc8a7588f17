"""Docker's json-file log: its format and the writer the shim uses (``logread`` has the readers).

Each line of ``path`` is ``{"log": "<text incl. \\n>", "stream": "stdout"|"stderr", "time": RFC3339Nano}``.
With labels/env/tag log-opts a record also carries ``"attrs": {…}`` between ``stream`` and ``time``.
Rotation keeps ``path`` (newest), ``path.1``, … ``path.<max_files-1>`` (oldest); with ``compress``
the rotated files are ``path.1.gz`` … (as Docker: ``path`` becomes ``path.1``, which is gzip'd in the
background into ``path.1.gz`` and then removed; a reader seeing both takes the ``.gz``)::

    w = LogWriter(Path("c1-json.log"), max_size=10 << 20, max_files=3)
    w.write("stdout", b"hello\\nwor"); w.write("stdout", b"ld\\n"); w.close()
    # c1-json.log: {"log":"hello\\n","stream":"stdout","time":"…"}, then {"log":"world\\n",…}

A write the disk refuses (full, over quota) drops its records whole, never a torn one, which would
break every reader (moby#29511), and the container runs on: its output is dropped, as Docker drops it,
until a write succeeds again. ``on_notice`` gets one line when that starts and one when the log has
been written for a minute without a failure: a full disk that rotation keeps freeing and the output
keeps filling is one episode, not a line per rotation (the C monitor does the same).
"""

from __future__ import annotations

import contextlib
import json
import json.encoder
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

MAX_LINE = 16 * 1024  # Docker splits longer lines into partial messages of this size.
RECOVERED_AFTER = 60.0  # seconds without a refused write before the log is reported written again


class LogEntry(NamedTuple):
    """One log message: ``stream`` is "stdout" or "stderr", ``data`` the raw bytes, ``time`` RFC3339Nano,
    ``attrs`` the record's labels/env/tag attributes (None without).
    A NamedTuple rather than a frozen dataclass: building 600k of them is ~3x cheaper."""

    stream: str
    data: bytes
    time: str
    attrs: dict[str, str] | None = None


_last_ns = 0
_prefix: tuple[int, str] = (-1, "")


def rfc3339nano(ns: int | None = None) -> str:
    """UTC time with 9 fractional digits (fixed width, so strings sort like times). Without ``ns``,
    now, and strictly later than the previous call's: every log record has its own time, as every
    Docker message does, which lets a follower tell records apart across rotations (``logread``)."""
    global _last_ns, _prefix
    if ns is None:
        ns = max(time.time_ns(), _last_ns + 1)
        _last_ns = ns
    seconds, frac = divmod(ns, 1_000_000_000)
    if _prefix[0] != seconds:  # one strftime per second, not per record
        _prefix = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return f"{_prefix[1]}.{frac:09d}Z"


_quote = json.encoder.encode_basestring  # the C escaper: one call per line instead of json.dumps


def encode_entry(stream: str, data: bytes, stamp: str, attrs: str = "") -> bytes:
    """One json-file line, keys in Docker's order; invalid UTF-8 becomes U+FFFD as in Docker.
    ``attrs`` is a JSON object's text (labels, env, tag log-opts) or ""."""
    text = _quote(data.decode("utf-8", "replace"))
    extra = f',"attrs":{attrs}' if attrs else ""
    return f'{{"log":{text},"stream":"{stream}"{extra},"time":"{stamp}"}}\n'.encode()


# Run by the rotating writer (the shim's and the C monitor's): gzip the just-rotated file next to
# it, then drop the plain one; a gzip the disk cannot take leaves no part-written .gz.tmp (the plain
# file stays). gzip is part of every Debian system (Priority: required).
COMPRESS_SCRIPT = (
    '{ gzip -c -- "$1" > "$1.gz.tmp" && mv -f -- "$1.gz.tmp" "$1.gz" && rm -f -- "$1"; } '
    '|| rm -f -- "$1.gz.tmp"'
)


_APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC


class LogWriter:
    """Splits each stream into lines and appends json-file entries, rotating by size."""

    def __init__(
        self,
        path: Path,
        *,
        max_size: int = 20 << 20,
        max_files: int = 5,
        compress: bool = False,
        attrs: str = "",
        on_notice: Callable[[str], None] | None = None,
    ) -> None:
        self.path = path
        self.max_size = max_size
        self.max_files = max(1, max_files)
        self.compress = compress and self.max_files > 1
        self.attrs = attrs
        self.dropped = 0  # records the disk refused since the failure was reported
        self._on_notice = on_notice
        self._failing = False  # reported, and not yet written again for RECOVERED_AFTER
        self._failed_at = 0.0
        self._compressor: subprocess.Popen[bytes] | None = None
        self._partial: dict[str, bytes] = {"stdout": b"", "stderr": b""}
        self._fd = os.open(path, _APPEND, 0o640)
        self._size = os.fstat(self._fd).st_size  # bytes counted for rotation (dropped ones too)

    def write(self, stream: str, data: bytes) -> None:
        buffered = self._partial.get(stream, b"") + data
        out: list[bytes] = []
        start = 0
        while True:
            end = buffered.find(b"\n", start)
            if end < 0:
                break
            line = buffered[start : end + 1]
            while len(line) > MAX_LINE:
                out.append(encode_entry(stream, line[:MAX_LINE], rfc3339nano(), self.attrs))
                line = line[MAX_LINE:]
            out.append(encode_entry(stream, line, rfc3339nano(), self.attrs))
            start = end + 1
        rest = buffered[start:]
        while len(rest) >= MAX_LINE:
            out.append(encode_entry(stream, rest[:MAX_LINE], rfc3339nano(), self.attrs))
            rest = rest[MAX_LINE:]
        self._partial[stream] = rest
        self._append(out)

    def flush(self, stream: str) -> None:
        """Write a stream's unterminated last line (at EOF), as Docker does."""
        rest = self._partial.get(stream, b"")
        if rest:
            self._partial[stream] = b""
            self._append([encode_entry(stream, rest, rfc3339nano(), self.attrs)])

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
        data = b"".join(records)
        if not data:
            return
        end = -1
        try:
            if self._fd < 0:  # a rotation could not open the new file: again now
                self._fd = os.open(self.path, _APPEND, 0o640)
            end = os.fstat(self._fd).st_size  # now: someone may have truncated it, as people do with logs
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            self._drop(len(records), exc, end)
            return
        if self._failing and time.monotonic() - self._failed_at >= RECOVERED_AFTER:
            self._failing = False
            self._notice(f"log {self.path} written again ({self.dropped} log records dropped)")
            self.dropped = 0

    def _drop(self, count: int, exc: OSError, end: int) -> None:
        """The disk refused ``count`` records: cut a partial write back off to ``end`` (no torn record)
        and drop them. ``_size`` still counts them, so rotation, which frees the oldest file, comes
        on time."""
        if end >= 0:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, end)
        self.dropped += count
        self._failed_at = time.monotonic()
        if not self._failing:
            self._failing = True
            reason = exc.strerror or str(exc)
            reason = reason[:1].lower() + reason[1:]  # "no space left on device", as the monitor says it
            self._notice(f"cannot write log {self.path}: {reason}; output is dropped until it can be written")

    def _notice(self, message: str) -> None:
        if self._on_notice is not None:
            self._on_notice(message)

    def _rotate(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        try:
            self._rotate_files()
        except OSError:  # a full disk may refuse even a new empty file: the next write opens it again
            self._fd = -1
        self._size = 0

    def _rotate_files(self) -> None:
        if self.compress:
            self._rotate_compressed()
            return
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

    def _rotate_compressed(self) -> None:
        """Docker's order: drop the oldest .gz, shift the others up, ``path`` → ``path.1``, then gzip
        ``path.1`` in the background (the previous gzip is awaited first: it owns ``path.1``)."""
        self._wait_compressor()
        name = self.path.name
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path.with_name(f"{name}.{self.max_files - 1}.gz"))
        for index in range(self.max_files - 1, 1, -1):
            with contextlib.suppress(FileNotFoundError):
                os.replace(
                    self.path.with_name(f"{name}.{index - 1}.gz"), self.path.with_name(f"{name}.{index}.gz")
                )
        rotated = self.path.with_name(f"{name}.1")
        os.replace(self.path, rotated)
        self._fd = os.open(self.path, _APPEND, 0o640)
        self._compressor = subprocess.Popen(
            ["/bin/sh", "-c", COMPRESS_SCRIPT, "sh", str(rotated)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _wait_compressor(self) -> None:
        if self._compressor is not None:
            self._compressor.wait()  # a shim that reaped it already: Popen takes ECHILD as done
            self._compressor = None

    def close(self) -> None:
        for stream in self._partial:
            self.flush(stream)
        if self._fd >= 0:
            os.close(self._fd)
        self._wait_compressor()  # every rotated file is compressed before the exit is recorded
