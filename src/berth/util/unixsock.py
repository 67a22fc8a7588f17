"""Unix socket paths longer than the kernel's 108-byte ``sun_path`` limit.

A deep data root (``/tmp/berth-test-xyz/run/runtime/<64-hex id>/shim.sock``) does not fit. Binding or
connecting through ``/proc/self/fd/<dirfd>/<name>`` reaches the same file with a short path.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_SUN_PATH_MAX = 107


@contextmanager
def short_path(path: Path | str) -> Iterator[str]:
    """A path to ``path`` usable for bind/connect while the context is open."""
    text = str(path)
    if len(os.fsencode(text)) <= _SUN_PATH_MAX:
        yield text
        return
    directory, name = os.path.split(text)
    fd = os.open(directory or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{fd}/{name}"
    finally:
        os.close(fd)
