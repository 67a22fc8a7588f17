"""Token scopes: ``type:name:action[,action]`` (distribution docs/spec/auth/scope.md).

A name may contain one ``:`` (``host:5000/app``), so the type ends at the first ``:`` and the actions
start after the last one. ``repository(plugin)`` style classes are accepted and dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TYPE_RE = re.compile(r"^[a-z0-9]+(?:\([a-z0-9]+\))?$")


@dataclass(frozen=True, slots=True)
class Scope:
    type: str
    name: str
    actions: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"


def parse_scope(text: str) -> Scope | None:
    """One resource scope, or None if it is malformed (malformed scopes are ignored, not errors)."""
    if text.count(":") < 2:
        return None
    type_, rest = text.split(":", 1)
    name, _, actions = rest.rpartition(":")
    if not _TYPE_RE.match(type_) or not name:
        return None
    return Scope(type_.split("(", 1)[0], name, tuple(a for a in actions.split(",") if a))


def parse_scopes(values: list[str]) -> list[Scope]:
    """Every scope in ``values``; each value may hold several, space-separated."""
    scopes = []
    for value in values:
        for part in value.split():
            scope = parse_scope(part)
            if scope is not None:
                scopes.append(scope)
    return scopes
