"""RequestContext: who is calling (Basic, Bearer or anonymous) and what they may do.

Answers for a caller without the needed action, chosen so that a private repository is
indistinguishable from a missing one:

    anonymous, no token          401 + Bearer challenge with the scope needed
    token lacks an action the    401 + challenge (the client asks again for the wider scope)
      user does hold
    cannot pull the repository   pull: 404 NAME_UNKNOWN; push/delete: 401 (anonymous) or 403 DENIED
    can pull, lacks push/delete  403 DENIED (401 if anonymous)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from berth.registry.accounts.service import User
from berth.registry.api.errors import ErrorCode, RegistryError
from berth.registry.auth.acl import PULL
from berth.registry.auth.basic import parse_basic
from berth.registry.auth.throttle import TooManyLogins
from berth.registry.auth.tokens import InvalidToken, check_stamp
from berth.registry.service import Registry

REGISTRY_KEY = web.AppKey("registry", Registry)


@dataclass(slots=True)
class Identity:
    """The caller: ``user`` None means anonymous; ``token_access`` is set when a bearer token limits it."""

    user: User | None
    token_access: dict[tuple[str, str], set[str]] | None = None
    authenticated: bool = False
    scheme: str = "none"
    _cache: dict[str, frozenset[str]] = field(default_factory=dict)


def realm(registry: Registry, request: web.Request) -> str:
    """The token endpoint URL, following the scheme and host the client used."""
    return registry.config.realm or f"{request.scheme}://{request.host}/token"


def challenge(
    registry: Registry, request: web.Request, scope: str | None = None, error: str | None = None
) -> str:
    value = f'Bearer realm="{realm(registry, request)}",service="{registry.config.service}"'
    if scope:
        value += f',scope="{scope}"'
    if error:
        value += f',error="{error}"'
    return value


def unauthorized(
    registry: Registry, request: web.Request, scope: str | None = None, message: str | None = None
) -> RegistryError:
    return RegistryError(
        ErrorCode.UNAUTHORIZED,
        message,
        headers={"WWW-Authenticate": challenge(registry, request, scope)},
    )


def too_many_logins(exc: TooManyLogins) -> RegistryError:
    return RegistryError(
        ErrorCode.TOOMANYREQUESTS, str(exc), status=429, headers={"Retry-After": str(exc.retry_after)}
    )


def authenticate(registry: Registry, request: web.Request) -> Identity:
    """Identify the caller from ``Authorization``; bad credentials are a 401, none is anonymous."""
    header = request.headers.get("Authorization", "")
    if not header:
        return Identity(None)
    scheme = header.split(" ", 1)[0].lower()
    if scheme == "basic":
        creds = parse_basic(header)
        try:
            user = (
                registry.logins.verify(*creds, address=request.remote or "", via="basic", record=False)
                if creds
                else None
            )
        except TooManyLogins as exc:
            raise too_many_logins(exc) from exc
        if user is None:
            raise unauthorized(registry, request, message="invalid username or password")
        return Identity(user, None, True, "basic")
    if scheme == "bearer":
        token = header.split(" ", 1)[1].strip() if " " in header else ""
        try:
            claims = registry.tokens.verify(token)
        except InvalidToken as exc:
            raise unauthorized(registry, request, message=str(exc)) from exc
        subject = str(claims.get("sub") or "")
        user = registry.accounts.get_user(subject) if subject else None
        if subject and user is None:
            raise unauthorized(registry, request, message="token subject no longer exists")
        try:
            check_stamp(claims, user)
        except InvalidToken as exc:
            raise unauthorized(registry, request, message=str(exc)) from exc
        access: dict[tuple[str, str], set[str]] = {}
        for entry in claims.get("access") or []:
            if isinstance(entry, dict):
                key = (str(entry.get("type")), str(entry.get("name")))
                access.setdefault(key, set()).update(str(a) for a in entry.get("actions") or [])
        return Identity(user, access, True, "bearer")
    raise unauthorized(registry, request, message=f"unsupported authorization scheme {scheme!r}")


class RequestContext:
    """One request's registry, caller and request, with the access checks handlers use."""

    def __init__(self, registry: Registry, request: web.Request, identity: Identity) -> None:
        self.registry = registry
        self.request = request
        self.identity = identity

    def actions(self, repo: str) -> frozenset[str]:
        """What the caller may do on ``repo`` now (live policy, narrowed by the token if any)."""
        cached = self.identity._cache.get(repo)
        if cached is not None:
            return cached
        allowed = self.registry.policy.actions(self.identity.user, repo)
        if self.identity.token_access is not None:
            allowed = allowed & frozenset(self.identity.token_access.get(("repository", repo), set()))
        self.identity._cache[repo] = allowed
        return allowed

    def audit(self, action: str, target: str, **detail: object) -> None:
        """Record ``action`` on ``target`` by this caller in the audit log."""
        user = self.identity.user
        self.registry.audit.record(
            action, user.name if user else "anonymous", target, address=self.request.remote or "", **detail
        )

    def can(self, repo: str, action: str) -> bool:
        return action in self.actions(repo)

    def token_lacks(self, repo: str, action: str) -> bool:
        """Whether the caller holds ``action`` on ``repo`` but the bearer token does not grant it."""
        held = self.registry.policy.actions(self.identity.user, repo)
        return self.identity.token_access is not None and action in held and not self.can(repo, action)

    def require(self, repo: str, action: str) -> None:
        """Raise the answer the module docstring's table gives unless the caller may ``action`` ``repo``."""
        if self.can(repo, action):
            return
        held = self.registry.policy.actions(self.identity.user, repo)
        wanted = "pull" if action == PULL else f"pull,{action}"
        if action == PULL and self.request.method == "HEAD":
            # HEAD is how pushers and deleters check what exists before they act. Clients that keep one
            # token and refresh it only on 403 (oras-py) need every action in this first token; the token
            # endpoint grants only what the caller holds, so asking for more never widens access.
            wanted = "pull,push,delete"
        anonymous = self.identity.user is None
        if (anonymous and self.identity.token_access is None) or action in held:
            raise unauthorized(self.registry, self.request, f"repository:{repo}:{wanted}")
        if action == PULL:
            raise RegistryError(ErrorCode.NAME_UNKNOWN, detail={"name": repo})
        if anonymous:
            raise unauthorized(self.registry, self.request, f"repository:{repo}:{wanted}")
        raise RegistryError(ErrorCode.DENIED, detail={"name": repo, "action": action})

    def require_visible(self, repo: str) -> None:
        """NAME_UNKNOWN unless the repository exists (access was already checked)."""
        if self.registry.repos.get(repo) is None:
            raise RegistryError(ErrorCode.NAME_UNKNOWN, detail={"name": repo})
