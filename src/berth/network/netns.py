"""Persistent network namespaces: made before a container, kept by a bind mount, entered by one thread.

A container's namespace is made by the daemon, not by the runtime, so that its links can be wired
before init runs and outlive a daemon restart (as ``ip netns add`` does): ``unshare(CLONE_NEWNET)`` in a
throwaway thread, then a bind mount of that thread's ``ns/net`` onto a file under the exec root. The
runtime joins it by path (``linux.namespaces[].path`` in the OCI spec).

Namespaces are per thread, so :func:`inside` runs a function on a fresh thread that setns()es first and
then dies: the daemon's own threads never change namespace, and a thread that could not switch back
can never be reused by mistake.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from berth.runtime.linux import syscalls as sc

T = TypeVar("T")

_MNT_DETACH = 2


def _on_fresh_thread(work: Callable[[], T]) -> T:
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:  # re-raised on the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, name="netns", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def create(path: Path) -> None:
    """A new, empty network namespace (loopback only, down) kept alive at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o711)
    path.touch(mode=0o444)

    def make() -> None:
        sc.unshare(sc.CLONE_NEWNET)
        sc.mount("/proc/thread-self/ns/net", str(path), None, sc.MS_BIND)

    try:
        _on_fresh_thread(make)
    except OSError:
        path.unlink(missing_ok=True)
        raise


def delete(path: Path) -> None:
    """Drop the namespace (its links go with it once no process is left inside). Idempotent."""
    with contextlib.suppress(OSError):
        sc.umount2(str(path), _MNT_DETACH)
    path.unlink(missing_ok=True)


def inside(path: Path, work: Callable[[], T]) -> T:
    """Run ``work`` inside the namespace at ``path`` (on a thread of its own; see module docstring)."""

    def run() -> T:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            sc.setns(fd, sc.CLONE_NEWNET)
        finally:
            os.close(fd)
        # Never configure links unless this thread really is in the container's namespace.
        if os.stat("/proc/thread-self/ns/net").st_ino != os.stat(path).st_ino:
            raise OSError(f"setns into {path} did not take effect")
        return work()

    return _on_fresh_thread(run)
