"""``.dockerignore`` on the daemon's side, as dockerd's classic builder uses it: the client has already
left the ignored files out of the context, but it always sends the Dockerfile and ``.dockerignore``
themselves; when the patterns name them, the daemon removes them from the context after reading the
Dockerfile (so that ``COPY . /app`` does not copy them). Patterns follow moby's patternmatcher: Go's
``filepath.Match`` plus ``**``, ``!`` exceptions, later lines winning, a match on a parent directory
counting for everything below it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

IGNORE_FILE = ".dockerignore"


def _regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
            continue
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            continue
        if ch == "*":
            out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch == "[" and (end := pattern.find("]", i)) > i:
            body = pattern[i + 1 : end].replace("\\", "\\\\")
            out += "[" + ("^" + body[1:] if body.startswith(("^", "!")) else body) + "]"
            i = end
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(ch)
        i += 1
    return re.compile(f"^{out}$")


def read_patterns(text: str) -> list[tuple[bool, re.Pattern[str]]]:
    """(is_exception, regex) for each pattern line of a ``.dockerignore``, in order."""
    rules: list[tuple[bool, re.Pattern[str]]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        if negate:
            line = line[1:].strip()
        line = os.path.normpath(line).lstrip("/")
        if line and line != ".":
            rules.append((negate, _regex(line)))
    return rules


def matches_or_parent_matches(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether ``path`` (slash-separated, relative to the context) is ignored."""
    parts = path.strip("/").split("/")
    parents = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for negate, regex in rules:
        if any(regex.match(candidate) for candidate in parents):
            ignored = not negate
    return ignored


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
        named = bool(clean) and matches_or_parent_matches(clean, rules)
        if named and inside and (target.is_file() or target.is_symlink()):
            target.unlink()
