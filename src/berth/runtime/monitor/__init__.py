"""berth-monitor: the long-lived half of a container's shim, in C (``monitor.c``), built on first use.
May import only the standard library. Entry point: ``ensure_built() -> str | None``.

Why C: a shim forked from the Python forkserver keeps ~2 MB of private memory however idle (the
interpreter writes to every page it touches), against ≤ 1 MB per idle container wanted (conmon, in C,
is ~0.4 MB). The Python shim still builds the container, then execs this monitor, which serves the
same protocol until the container exits. Without a C compiler, or with ``BERTH_MONITOR=python`` in
berthd's environment, the Python shim serves instead (``shim/server.py``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

SOURCE = Path(__file__).with_name("monitor.c")


def cache_dir() -> Path:
    """Where built monitors are kept, shared by every daemon of this user (named by source hash)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "berth"


def ensure_built(directory: Path | None = None) -> str | None:
    """The path of the monitor built from this ``monitor.c`` (compiled once, ~0.3 s, with ``cc``), or
    None when it cannot be had: no compiler, a failed build, or ``BERTH_MONITOR=python``."""
    if os.environ.get("BERTH_MONITOR") == "python":
        return None
    source = SOURCE.read_bytes()
    target = (directory or cache_dir()) / f"berth-monitor-{hashlib.sha256(source).hexdigest()[:16]}"
    if os.access(target, os.X_OK):
        return str(target)
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    partial = target.with_name(f".{target.name}.{os.getpid()}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        built = subprocess.run(
            [compiler, "-O2", "-s", "-o", str(partial), str(SOURCE)], capture_output=True, check=False
        )
        if built.returncode != 0:
            return None
        os.replace(partial, target)  # atomic: concurrent daemons build the same bytes
    except OSError:
        return None  # e.g. an unwritable cache directory: the Python shim serves
    finally:
        with contextlib.suppress(OSError):
            partial.unlink()
    return str(target)


__all__ = ["SOURCE", "cache_dir", "ensure_built"]
