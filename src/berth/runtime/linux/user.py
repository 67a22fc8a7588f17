"""Resolve Docker's ``User`` strings (``name|uid[:group|gid]``) against a container's passwd and group files.

Pure functions over file contents, so they are testable without a container. Docker semantics:
no group given ⇒ the user's primary gid plus every group listing the user; a group given ⇒ only it
(supplementary groups dropped).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from berth.runtime.errors import UserNotFound


@dataclass(frozen=True, slots=True)
class ExecUser:
    """The identity a container process runs as."""

    uid: int
    gid: int
    additional_gids: tuple[int, ...] = ()
    home: str = "/"


def _read(path: Path) -> list[list[str]]:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def resolve(spec: str, passwd: Path, group: Path) -> ExecUser:
    """Resolve ``spec`` (``user``, ``uid``, ``user:group``, ``uid:gid``, …) like Docker/runc's
    ``GetExecUser``. A numeric uid absent from passwd is allowed (gid 0); an unknown name is not."""
    user_part, _, group_part = spec.partition(":")
    users = _read(passwd)
    uid, gid, home = 0, 0, "/"
    name: str | None = None
    found = False
    for entry in users:
        if len(entry) < 4:
            continue
        if user_part in (entry[0], entry[2]) and (user_part == entry[0] or user_part.isdigit()):
            name = entry[0]
            uid, gid = int(entry[2]), int(entry[3]) if entry[3].isdigit() else 0
            home = entry[5] if len(entry) > 5 and entry[5] else "/"
            found = True
            break
    if not found:
        if user_part.isdigit():
            uid = int(user_part)
        elif user_part:
            raise UserNotFound(f"unable to find user {user_part}: no matching entries in passwd file")
    groups = _read(group)
    if group_part:
        for entry in groups:
            if (
                len(entry) >= 3
                and group_part in (entry[0], entry[2])
                and (group_part == entry[0] or group_part.isdigit())
            ):
                return ExecUser(uid, int(entry[2]), (), home)
        if group_part.isdigit():
            return ExecUser(uid, int(group_part), (), home)
        raise UserNotFound(f"unable to find group {group_part}: no matching entries in group file")
    extra: list[int] = [gid]  # setgroups gets the primary gid too (`id` shows groups=<gid>,…)
    if name is not None:
        for entry in groups:
            if len(entry) >= 4 and entry[2].isdigit() and name in entry[3].split(","):
                number = int(entry[2])
                if number != gid and number not in extra:
                    extra.append(number)
    return ExecUser(uid, gid, tuple(extra), home)
