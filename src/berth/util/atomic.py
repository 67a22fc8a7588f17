"""Crash-safe file writes: write a temp file in the same directory, fsync, rename, fsync the directory.

A reader sees either the old content or the new, never a torn file, even if the process is killed
in the middle (runc's saveState, not youki's truncate-in-place).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def fsync_dir(directory: Path) -> None:
    """Make a rename or unlink in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes(path: Path, data: bytes, *, mode: int = 0o644, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically; ``durable`` also fsyncs (skip it for state on tmpfs)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, path)
    if durable:
        fsync_dir(path.parent)


def write_json(path: Path, value: Any, *, mode: int = 0o644, durable: bool = True) -> None:
    """Serialise ``value`` as JSON and replace ``path`` with it atomically."""
    write_bytes(path, json.dumps(value, separators=(",", ":")).encode(), mode=mode, durable=durable)


def read_json(path: Path) -> Any:
    """Read a JSON file written by ``write_json``; raises FileNotFoundError if absent."""
    with open(path, "rb") as f:
        return json.loads(f.read())
