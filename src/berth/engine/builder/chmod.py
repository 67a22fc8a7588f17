"""``COPY --chmod=`` / ``ADD --chmod=``: an octal mode (``755``, ``0644``) or, as BuildKit's
Dockerfile 1.10 takes it, a symbolic one in chmod(1)'s words (``u+x``, ``go-w``, ``a=rX,u+w``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from berth.errors import InvalidArgument

Chmod = Callable[[int, bool], int]  # (current permission bits, is a directory) → new bits

_OCTAL = re.compile(r"^[0-7]{1,4}$")
_CLAUSE = re.compile(r"^([ugoa]*)([-+=])([rwxXst]*)$")
_WHO = {"u": 0o4700, "g": 0o2070, "o": 0o1007}  # the bits each class owns (with its special bit)


def parse(text: str) -> Chmod:
    if _OCTAL.match(text):
        mode = int(text, 8)
        return lambda _mode, _is_dir: mode
    clauses = []
    for clause in text.split(","):
        match = _CLAUSE.match(clause)
        if not match:
            raise InvalidArgument(f"invalid chmod parameter: {text!r}: an octal mode or chmod(1) symbols")
        clauses.append(match.groups())
    return lambda mode, is_dir: _apply(clauses, mode, is_dir)


def _apply(clauses: list[tuple[str, ...]], mode: int, is_dir: bool) -> int:
    for who, op, perms in clauses:
        mask = 0
        for cls in who.replace("a", "ugo") or "ugo":
            mask |= _WHO[cls]
        bits = 0
        for perm in perms:
            if perm == "r":
                bits |= 0o444
            elif perm == "w":
                bits |= 0o222
            elif perm == "x" or (perm == "X" and (is_dir or mode & 0o111)):
                bits |= 0o111
            elif perm == "s":
                bits |= 0o6000
            elif perm == "t":
                bits |= 0o1000
        bits &= mask
        if op == "+":
            mode |= bits
        elif op == "-":
            mode &= ~bits
        else:
            mode = (mode & ~mask) | bits
    return mode & 0o7777
