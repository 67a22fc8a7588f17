"""AccountService: users, organisations, teams, team members and grants, stored in the metadata DB."""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass

import bcrypt

from berth.errors import AlreadyExists, InvalidArgument, NotFound
from berth.registry.accounts.robots import Robot, RobotStore, login_name, parse_grant, parse_login
from berth.registry.metadata import MetadataDB

NAME_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
ACCESS_LEVELS = ("pull", "push", "admin")
# bcrypt cost: 12 is the library default; each check costs ~0.2 s, which matters for Basic auth on every
# request, so verified passwords are cached per process (see ``verify``).
_BCRYPT_ROUNDS = 12


class UserUnknown(NotFound):
    """No user with this name. The caller named a missing account."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no such user: {name}")
        self.name = name


@dataclass(frozen=True, slots=True)
class User:
    name: str
    admin: bool
    stamp: str = ""  # changes with the password: tokens carry it, so a new password voids old ones
    robot: Robot | None = None  # set for a robot$ORG+NAME account: its grants are all it may do


@dataclass(frozen=True, slots=True)
class Team:
    name: str
    members: list[str]
    grants: list[tuple[str, str]]  # (repository or ORG/*, pull|push|admin)


def _stamp(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def _check_name(kind: str, name: str) -> None:
    if not NAME_RE.match(name) or len(name) > 64:
        raise InvalidArgument(f"invalid {kind} name {name!r}: use lowercase letters, digits, '.', '_', '-'")


class AccountService:
    """All account state; every method is a few SQL statements (no caching of rows)."""

    def __init__(self, db: MetadataDB, *, bcrypt_rounds: int = _BCRYPT_ROUNDS) -> None:
        self._db = db
        self._rounds = bcrypt_rounds
        self._verified: dict[tuple[str, str], str] = {}
        self.robots = RobotStore(db, bcrypt_rounds=bcrypt_rounds)

    # users ------------------------------------------------------------------------------------------
    def add_user(self, name: str, password: str, *, admin: bool = False) -> None:
        _check_name("user", name)
        if not password:
            raise InvalidArgument("password must not be empty")
        if self.get_user(name) is not None or self.is_org(name):
            raise AlreadyExists(f"name {name} is already taken")
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(self._rounds)).decode()
        self._db.execute(
            "INSERT INTO users (name, password_hash, admin, created) VALUES (?, ?, ?, ?)",
            (name, hashed, int(admin), time.time()),
        )

    def remove_user(self, name: str) -> None:
        with self._db.write():
            if self._db.execute("DELETE FROM users WHERE name = ?", (name,)) == 0:
                raise UserUnknown(name)
            self._db.execute('DELETE FROM team_members WHERE "user" = ?', (name,))
        self._verified = {k: v for k, v in self._verified.items() if k[0] != name}

    def set_password(self, name: str, password: str) -> None:
        if not password:
            raise InvalidArgument("password must not be empty")
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(self._rounds)).decode()
        if self._db.execute("UPDATE users SET password_hash = ? WHERE name = ?", (hashed, name)) == 0:
            raise UserUnknown(name)
        self._verified = {k: v for k, v in self._verified.items() if k[0] != name}

    def get_user(self, name: str) -> User | None:
        found = self._account(name)
        return None if found is None else found[0]

    def _account(self, name: str) -> tuple[User, str] | None:
        """The user or robot named ``name`` and its stored bcrypt hash."""
        robot_of = parse_login(name)
        if robot_of is not None:
            robot = self.robots.get(*robot_of)
            if robot is None:
                return None
            return User(robot.login, False, _stamp(robot.token_hash), robot), robot.token_hash
        row = self._db.query_one("SELECT name, admin, password_hash FROM users WHERE name = ?", (name,))
        if row is None:
            return None
        stored = str(row["password_hash"])
        return User(str(row["name"]), bool(row["admin"]), _stamp(stored)), stored

    def _person(self, name: str) -> None:
        """UserUnknown unless ``name`` is a user (robots own nothing and join no team)."""
        user = self.get_user(name)
        if user is None or user.robot is not None:
            raise UserUnknown(name)

    def users(self) -> list[User]:
        return [
            User(str(r["name"]), bool(r["admin"]))
            for r in self._db.query("SELECT name, admin FROM users ORDER BY name")
        ]

    def verify(self, name: str, password: str) -> User | None:
        """The user (or robot) if ``password`` (the robot's token) is theirs, else None. Successful
        checks are cached against the stored hash, so a changed password invalidates the cache entry."""
        found = self._account(name)
        if found is None:
            return None
        user, stored = found
        if self._verified.get((name, password)) != stored:
            if not bcrypt.checkpw(password.encode(), stored.encode()):
                return None
            self._verified[(name, password)] = stored
        return user

    # organisations and teams ------------------------------------------------------------------------
    def add_org(self, name: str, owner: str) -> None:
        _check_name("organisation", name)
        self._person(owner)
        if self.get_user(name) is not None or self.is_org(name):
            raise AlreadyExists(f"name {name} is already taken")
        self._db.execute(
            "INSERT INTO orgs (name, owner, created) VALUES (?, ?, ?)", (name, owner, time.time())
        )

    def is_org(self, name: str) -> bool:
        return self._db.query_one("SELECT 1 FROM orgs WHERE name = ?", (name,)) is not None

    def org_owner(self, name: str) -> str | None:
        row = self._db.query_one("SELECT owner FROM orgs WHERE name = ?", (name,))
        return None if row is None else str(row["owner"])

    def orgs(self) -> list[tuple[str, str]]:
        return [
            (str(r["name"]), str(r["owner"]))
            for r in self._db.query("SELECT name, owner FROM orgs ORDER BY name")
        ]

    def add_team(self, org: str, team: str) -> None:
        _check_name("team", team)
        if not self.is_org(org):
            raise NotFound(f"no such organisation: {org}")
        if self._db.query_one("SELECT 1 FROM teams WHERE org = ? AND name = ?", (org, team)):
            raise AlreadyExists(f"team {org}/{team} already exists")
        self._db.execute("INSERT INTO teams (org, name) VALUES (?, ?)", (org, team))

    def _check_team(self, org: str, team: str) -> None:
        if not self._db.query_one("SELECT 1 FROM teams WHERE org = ? AND name = ?", (org, team)):
            raise NotFound(f"no such team: {org}/{team}")

    def add_member(self, org: str, team: str, user: str) -> None:
        self._check_team(org, team)
        self._person(user)
        self._db.execute(
            'INSERT INTO team_members (org, team, "user") VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
            (org, team, user),
        )

    def remove_member(self, org: str, team: str, user: str) -> None:
        self._check_team(org, team)
        if (
            self._db.execute(
                'DELETE FROM team_members WHERE org = ? AND team = ? AND "user" = ?', (org, team, user)
            )
            == 0
        ):
            raise NotFound(f"{user} is not a member of {org}/{team}")

    def members(self, org: str, team: str) -> list[str]:
        self._check_team(org, team)
        rows = self._db.query(
            'SELECT "user" FROM team_members WHERE org = ? AND team = ? ORDER BY "user"', (org, team)
        )
        return [str(r["user"]) for r in rows]

    def teams(self, org: str) -> list[Team]:
        """The teams of ``org`` with their members and grants, by name."""
        members: dict[str, list[str]] = {}
        for r in self._db.query(
            'SELECT team, "user" FROM team_members WHERE org = ? ORDER BY "user"', (org,)
        ):
            members.setdefault(str(r["team"]), []).append(str(r["user"]))
        grants: dict[str, list[tuple[str, str]]] = {}
        for r in self._db.query("SELECT team, repo, access FROM grants WHERE org = ? ORDER BY repo", (org,)):
            grants.setdefault(str(r["team"]), []).append((str(r["repo"]), str(r["access"])))
        names = [
            str(r["name"])
            for r in self._db.query("SELECT name FROM teams WHERE org = ? ORDER BY name", (org,))
        ]
        return [Team(name, members.get(name, []), grants.get(name, [])) for name in names]

    def grant(self, org: str, team: str, repo: str, access: str) -> str:
        """Give ``team`` ``access`` to ``repo`` (``app`` means ``ORG/app``; ``*`` means every repository
        of the organisation). Replaces an earlier grant on the same repository; returns the full name."""
        self._check_team(org, team)
        if access not in ACCESS_LEVELS:
            raise InvalidArgument(f"access must be one of {', '.join(ACCESS_LEVELS)}, not {access!r}")
        full = repo if repo.startswith(f"{org}/") else f"{org}/{repo}"
        self._db.execute(
            "INSERT INTO grants (org, team, repo, access) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (org, team, repo) DO UPDATE SET access = excluded.access",
            (org, team, full, access),
        )
        return full

    # robots ------------------------------------------------------------------------------------------
    def add_robot(self, org: str, name: str, grants: list[str]) -> str:
        """Make ``robot$ORG+NAME`` with ``REPO:pull|push`` grants; returns its token (shown once)."""
        _check_name("robot", name)
        if not self.is_org(org):
            raise NotFound(f"no such organisation: {org}")
        return self.robots.add(org, name, [parse_grant(org, g) for g in grants])

    def remove_robot(self, org: str, name: str) -> None:
        self.robots.remove(org, name)
        login = login_name(org, name)
        self._verified = {k: v for k, v in self._verified.items() if k[0] != login}

    def team_access(self, user: str, repo: str) -> set[str]:
        """Access levels ``user`` holds on ``repo`` through team grants (``ORG/*`` grants included)."""
        org = repo.split("/", 1)[0]
        rows = self._db.query(
            "SELECT g.access FROM grants g JOIN team_members m ON m.org = g.org AND m.team = g.team "
            'WHERE m."user" = ? AND g.org = ? AND (g.repo = ? OR g.repo = ?)',
            (user, org, repo, f"{org}/*"),
        )
        return {str(r["access"]) for r in rows}
