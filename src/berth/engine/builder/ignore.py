"""``.dockerignore`` on the daemon's side, as dockerd's classic builder uses it: the client has already
left the ignored files out of the context, but it always sends the Dockerfile and ``.dockerignore``
themselves; when the patterns name them, the daemon removes them from the context after reading the
Dockerfile (so that ``COPY . /app`` does not copy them). The patterns: ``berth.api.dockerignore``.
"""

from __future__ import annotations

import os
from pathlib import Path

from berth.api.dockerignore import ignored, read_patterns

IGNORE_FILE = ".dockerignore"


def remove_build_files(context: Path, dockerfile: str) -> None:
    """Drop ``.dockerignore`` and the Dockerfile from the unpacked context when its patterns name
    them (dockerd's ``removeDockerfile``); nothing happens without a ``.dockerignore``."""
    ignore = context / IGNORE_FILE
    if not ignore.is_file() or ignore.is_symlink():
        return
    rules = read_patterns(ignore.read_text(encoding="utf-8", errors="replace"))
    for name in (IGNORE_FILE, dockerfile):
        clean = os.path.normpath("/" + name).lstrip("/")
        target = context / clean
        inside = target.parent.resolve().is_relative_to(context.resolve())  # no symlinked parent out
        named = bool(clean) and ignored(clean, rules)
        if named and inside and (target.is_file() or target.is_symlink()):
            target.unlink()
