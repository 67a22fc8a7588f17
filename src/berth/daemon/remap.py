"""``berthd --userns-remap``: which host ids a remapped container's ids become, as dockerd picks them.

``default`` is the user ``berth-remap`` (dockerd's ``dockremap``), made on first use with a range of
65536 ids in /etc/subuid and /etc/subgid after the highest one there; ``USER[:GROUP]`` names an
existing user (and group) whose ranges must already be in those files. Container id 0 maps to the
first id of the range.
"""

from __future__ import annotations

import grp
import pwd
import subprocess
from dataclasses import dataclass
from pathlib import Path

from berth.errors import InvalidArgument

DEFAULT_USER = "berth-remap"
RANGE_SIZE = 65536
FIRST_ID = 100000
SUBUID, SUBGID = Path("/etc/subuid"), Path("/etc/subgid")


@dataclass(frozen=True, slots=True)
class Remap:
    user: str
    group: str
    uid_start: int
    uid_size: int
    gid_start: int
    gid_size: int

    def uid_mappings(self) -> list[dict[str, int]]:
        return [{"containerID": 0, "hostID": self.uid_start, "size": self.uid_size}]

    def gid_mappings(self) -> list[dict[str, int]]:
        return [{"containerID": 0, "hostID": self.gid_start, "size": self.gid_size}]


def _ranges(path: Path, name: str) -> list[tuple[int, int]]:
    found = []
    for line in path.read_text().splitlines() if path.exists() else []:
        owner, _, rest = line.strip().partition(":")
        start, _, size = rest.partition(":")
        if owner == name and start.isdigit() and size.isdigit():
            found.append((int(start), int(size)))
    return found


def _next_free(path: Path) -> int:
    end = FIRST_ID
    for line in path.read_text().splitlines() if path.exists() else []:
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            end = max(end, int(parts[1]) + int(parts[2]))
    return end


def _ensure_default_user() -> None:
    try:
        pwd.getpwnam(DEFAULT_USER)
    except KeyError:
        made = subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                "--user-group",
                DEFAULT_USER,
            ],
            capture_output=True,
            text=True,
        )
        if made.returncode != 0:
            raise InvalidArgument(
                f"cannot make the {DEFAULT_USER} user for --userns-remap: {made.stderr.strip()}"
            ) from None
    for path in (SUBUID, SUBGID):
        if not _ranges(path, DEFAULT_USER):
            with path.open("a") as f:
                f.write(f"{DEFAULT_USER}:{_next_free(path)}:{RANGE_SIZE}\n")


def resolve(value: str) -> Remap | None:
    """The remapping ``--userns-remap VALUE`` asks for ("": none)."""
    if not value:
        return None
    if value == "default":
        _ensure_default_user()
        user, group = DEFAULT_USER, DEFAULT_USER
    else:
        user, _, group = value.partition(":")
        try:
            entry = pwd.getpwnam(user) if not user.isdigit() else pwd.getpwuid(int(user))
        except KeyError:
            raise InvalidArgument(f"Error during uid lookup for {user}: no such user") from None
        user = entry.pw_name
        if not group:
            group = grp.getgrgid(entry.pw_gid).gr_name
    uids, gids = _ranges(SUBUID, user), _ranges(SUBGID, group)
    if not uids:
        raise InvalidArgument(f"no subuid ranges found for user {user!r} in {SUBUID}")
    if not gids:
        raise InvalidArgument(f"no subgid ranges found for group {group!r} in {SUBGID}")
    return Remap(user, group, uids[0][0], uids[0][1], gids[0][0], gids[0][1])
