"""RobotStore: robot accounts of an organisation, for CI and other machines.

A robot logs in as ``robot$ORG+NAME`` with the token ``add`` printed once; only a bcrypt hash of the
token is stored. Its grants name repositories inside ORG (``app``, ``ORG/app``, or an fnmatch pattern
such as ``ORG/*`` or ``ORG/ci-*``) with ``pull`` or ``push`` (push includes pull). A robot is never an
admin, owns no namespace, is in no team and can never reach another organisation. ``rm`` deletes it,
and every check reads the row, so a removed robot is refused at once, tokens already issued included.
"""

from __future__ import annotations

import fnmatch
import re
import secrets
import time
from dataclasses import dataclass

import bcrypt

from berth.errors import AlreadyExists, InvalidArgument, NotFound
from berth.registry.metadata import MetadataDB

ROBOT_ACCESS = ("pull", "push")
_LOGIN_RE = re.compile(r"^robot\$(?P<org>[^+]+)\+(?P<name>.+)$")
_PATTERN_RE = re.compile(r"^[a-z0-9._/*?-]+$")


def login_name(org: str, name: str) -> str:
    return f"robot${org}+{name}"


def parse_login(login: str) -> tuple[str, str] | None:
    """``(org, name)`` of a ``robot$ORG+NAME`` login; None for any other name."""
    match = _LOGIN_RE.match(login)
    return (match["org"], match["name"]) if match else None


@dataclass(frozen=True, slots=True)
class Grant:
    repo: str  # ORG/… name or fnmatch pattern
    access: str  # pull | push


@dataclass(frozen=True, slots=True)
class Robot:
    org: str
    name: str
    token_hash: str
    grants: tuple[Grant, ...]

    @property
    def login(self) -> str:
        return login_name(self.org, self.name)

    def actions(self, repo: str) -> set[str]:
        """pull/push this robot holds on ``repo`` (nothing outside its organisation)."""
        if not repo.startswith(f"{self.org}/"):
            return set()
        held: set[str] = set()
        for grant in self.grants:
            if fnmatch.fnmatchcase(repo, grant.repo):
                held |= {"pull", "push"} if grant.access == "push" else {"pull"}
        return held


def parse_grant(org: str, text: str) -> Grant:
    """``REPO:pull|push`` → a Grant inside ``org``; InvalidArgument for anything else."""
    repo, sep, access = text.rpartition(":")
    if not sep or access not in ROBOT_ACCESS:
        raise InvalidArgument(
            f"invalid --grant {text!r}: use REPO:pull or REPO:push (robots never get admin)"
        )
    full = repo if repo.startswith(f"{org}/") else f"{org}/{repo}"
    foreign = "/" in repo and not repo.startswith(f"{org}/")  # other/app: another namespace, never ours
    if not repo or foreign or not _PATTERN_RE.match(full):
        raise InvalidArgument(f"invalid --grant {text!r}: REPO must be a repository or pattern inside {org}")
    return Grant(full, access)


class RobotStore:
    def __init__(self, db: MetadataDB, *, bcrypt_rounds: int) -> None:
        self._db = db
        self._rounds = bcrypt_rounds

    def add(self, org: str, name: str, grants: list[Grant]) -> str:
        """Make the robot; returns its token (shown once, never stored)."""
        if not grants:
            raise InvalidArgument("a robot needs at least one --grant REPO:pull|push")
        token = secrets.token_urlsafe(32)
        hashed = bcrypt.hashpw(token.encode(), bcrypt.gensalt(self._rounds)).decode()
        with self._db.write():
            if self._db.query_one("SELECT 1 FROM robots WHERE org = ? AND name = ?", (org, name)):
                raise AlreadyExists(f"robot {login_name(org, name)} already exists")
            self._db.execute(
                "INSERT INTO robots (org, name, token_hash, created) VALUES (?, ?, ?, ?)",
                (org, name, hashed, time.time()),
            )
            for grant in grants:
                self._db.execute(
                    "INSERT INTO robot_grants (org, name, repo, access) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (org, name, repo) DO UPDATE SET access = excluded.access",
                    (org, name, grant.repo, grant.access),
                )
        return token

    def remove(self, org: str, name: str) -> None:
        with self._db.write():
            if self._db.execute("DELETE FROM robots WHERE org = ? AND name = ?", (org, name)) == 0:
                raise NotFound(f"no such robot: {login_name(org, name)}")
            self._db.execute("DELETE FROM robot_grants WHERE org = ? AND name = ?", (org, name))

    def get(self, org: str, name: str) -> Robot | None:
        row = self._db.query_one("SELECT token_hash FROM robots WHERE org = ? AND name = ?", (org, name))
        if row is None:
            return None
        rows = self._db.query(
            "SELECT repo, access FROM robot_grants WHERE org = ? AND name = ? ORDER BY repo", (org, name)
        )
        grants = tuple(Grant(str(r["repo"]), str(r["access"])) for r in rows)
        return Robot(org, name, str(row["token_hash"]), grants)

    def of_org(self, org: str) -> list[Robot]:
        rows = self._db.query("SELECT name FROM robots WHERE org = ? ORDER BY name", (org,))
        return [robot for r in rows if (robot := self.get(org, str(r["name"]))) is not None]
