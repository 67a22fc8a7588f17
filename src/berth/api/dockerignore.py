"""``.dockerignore`` patterns as moby's patternmatcher reads them — Go's ``filepath.Match`` plus ``**``,
``!`` exceptions, later lines winning, a match on a parent directory counting for everything below
it. The CLI leaves ignored files out of the context it sends; the daemon's builder drops the
Dockerfile and ``.dockerignore`` themselves when they are named (engine/builder/ignore.py).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # re is imported when there are patterns: ~10 ms of every `berth build` otherwise
if TYPE_CHECKING:
    import re

Rules = list[tuple[bool, "re.Pattern[str]"]]  # (is an exception "!", pattern), in the file's order


def _regex(pattern: str) -> re.Pattern[str]:
    import re

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


def read_patterns(text: str) -> Rules:
    """(is_exception, regex) for each pattern line of a ``.dockerignore``, in order."""
    rules: Rules = []
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


def ignored(path: str, rules: Rules) -> bool:
    """Whether ``path`` (slash-separated, relative to the context) is ignored."""
    parts = path.strip("/").split("/")
    parents = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for negate, regex in rules:
        if any(regex.match(candidate) for candidate in parents):
            ignored = not negate
    return ignored
