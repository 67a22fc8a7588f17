"""AccessPolicy: the actions a user holds on a repository, from namespaces, teams and visibility.

admin user                   pull, push, delete everywhere
USER/*                       pull, push, delete for USER
ORG/* (org owner)            pull, push, delete
ORG/* (team grant)           pull -> pull; push -> pull, push; admin -> pull, push, delete
robot$ORG+NAME               its grants inside ORG: pull -> pull; push -> pull, push (never delete)
public repository            pull for everyone, anonymous included (in pull-through mode also
                             every repository not fetched yet)
anything else                nothing (a private repository does not exist for this caller)
"""

from __future__ import annotations

from berth.registry.accounts.service import AccountService, User
from berth.registry.repositories import RepositoryInfo, RepositoryService

PULL, PUSH, DELETE = "pull", "push", "delete"
ALL_ACTIONS = frozenset({PULL, PUSH, DELETE})
_LEVELS = {"pull": frozenset({PULL}), "push": frozenset({PULL, PUSH}), "admin": ALL_ACTIONS}


class AccessPolicy:
    """Answers "what may ``user`` do on ``repo``" from live account state (revocations apply at once)."""

    def __init__(
        self, accounts: AccountService, repos: RepositoryService, *, pull_through: bool = False
    ) -> None:
        self._accounts = accounts
        self._repos = repos
        self._pull_through = pull_through

    def actions(self, user: User | None, repo: str, info: RepositoryInfo | None = None) -> frozenset[str]:
        if user is not None and user.admin:
            return ALL_ACTIONS
        info = info if info is not None else self._repos.get(repo)
        # A pull-through cache serves every upstream repository, fetched or not, to everyone.
        visible = info.visibility == "public" if info is not None else self._pull_through
        public = frozenset({PULL}) if visible else frozenset()
        if user is None or "/" not in repo:
            return public
        if user.robot is not None:
            return public | frozenset(user.robot.actions(repo))
        namespace = repo.split("/", 1)[0]
        if namespace == user.name:
            return ALL_ACTIONS
        owner = self._accounts.org_owner(namespace)
        if owner is None:
            return public
        if owner == user.name:
            return ALL_ACTIONS
        granted: frozenset[str] = public
        for level in self._accounts.team_access(user.name, repo):
            granted |= _LEVELS.get(level, frozenset())
        return granted

    def can_pull(self, user: User | None, info: RepositoryInfo) -> bool:
        return PULL in self.actions(user, info.name, info)
