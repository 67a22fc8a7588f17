"""Container status transitions (youki's ``can_*``): which verbs each status allows.

CREATED ──start──▶ RUNNING ──pause──▶ PAUSED ──resume──▶ RUNNING
   │                  │                  │
   └──────kill────────┴──────kill────────┘──▶ (exit) STOPPED ──delete──▶ gone
"""

from __future__ import annotations

from berth.runtime.errors import InvalidTransition
from berth.runtime.types import Status

ALLOWED: dict[str, frozenset[Status]] = {
    "start": frozenset({Status.CREATED}),
    "kill": frozenset({Status.CREATED, Status.RUNNING, Status.PAUSED}),
    "pause": frozenset({Status.RUNNING}),
    "resume": frozenset({Status.PAUSED}),
    "delete": frozenset({Status.STOPPED}),
    "exec": frozenset({Status.RUNNING}),
    "attach": frozenset({Status.CREATED, Status.RUNNING, Status.PAUSED}),
    "resize": frozenset({Status.CREATED, Status.RUNNING, Status.PAUSED}),
    "update": frozenset({Status.CREATED, Status.RUNNING, Status.PAUSED}),
}


def can(action: str, status: Status) -> bool:
    return status in ALLOWED[action]


def can_start(status: Status) -> bool:
    return can("start", status)


def can_kill(status: Status) -> bool:
    return can("kill", status)


def can_pause(status: Status) -> bool:
    return can("pause", status)


def can_resume(status: Status) -> bool:
    return can("resume", status)


def can_delete(status: Status) -> bool:
    return can("delete", status)


def can_exec(status: Status) -> bool:
    return can("exec", status)


def check(container_id: str, action: str, status: Status) -> None:
    """Raise InvalidTransition (a Conflict naming the action and the status) unless allowed."""
    if not can(action, status):
        raise InvalidTransition(container_id, action, status.value)
