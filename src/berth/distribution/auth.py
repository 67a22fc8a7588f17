"""Registry authentication: credentials, ``WWW-Authenticate`` challenges, scopes and bearer tokens.

Flow (distribution ``docs/spec/auth/token.md``, NOTES.md §4): a request answered ``401`` carries a
challenge; for ``Bearer`` the client asks ``realm`` for a token covering the scopes it needs — with GET
and HTTP Basic when it has a password, with an OAuth2 POST ``grant_type=refresh_token`` when it holds an
identity token, anonymously otherwise — and retries with ``Authorization: Bearer``. For ``Basic`` it just
retries with the password. Tokens are cached per scope set until shortly before they expire.

Scope grammar: ``type:name:actions``; ``name`` may hold one ``:`` (``host:port/repo``), so the type is
split at the first colon and the actions at the last one.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from berth.errors import InvalidArgument

_PARAM_RE = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*(?:,|$)')
_DEFAULT_TTL = 60
_EXPIRY_MARGIN = 10


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the client sent in ``X-Registry-Auth`` (or ``POST /auth``): a password or a token."""

    username: str = ""
    password: str = ""
    identity_token: str = ""
    registry_token: str = ""
    server_address: str = ""

    @property
    def anonymous(self) -> bool:
        return not (self.username or self.password or self.identity_token or self.registry_token)

    @classmethod
    def from_auth_config(cls, value: Mapping[str, Any] | None) -> Credentials:
        """From Docker's AuthConfig JSON (``username``, ``password``, ``auth``, ``identitytoken``,
        ``registrytoken``, ``serveraddress``), keys in any case; an empty dict is anonymous."""
        data = {str(k).lower(): v for k, v in (value or {}).items()}
        username = str(data.get("username") or "")
        password = str(data.get("password") or "")
        encoded = str(data.get("auth") or "")
        if encoded and not (username or password):
            try:
                username, _, password = base64.b64decode(encoded).decode().partition(":")
            except (ValueError, UnicodeDecodeError) as exc:
                raise InvalidArgument("invalid auth field in registry credentials") from exc
        return cls(
            username=username,
            password=password,
            identity_token=str(data.get("identitytoken") or ""),
            registry_token=str(data.get("registrytoken") or ""),
            server_address=str(data.get("serveraddress") or ""),
        )

    def basic_header(self) -> str | None:
        """``Basic base64(user:password)`` when a username is known."""
        if not self.username:
            return None
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True, slots=True)
class Challenge:
    """One ``WWW-Authenticate`` challenge: scheme (lower case) and its parameters."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")

    @property
    def service(self) -> str:
        return self.params.get("service", "")

    @property
    def scopes(self) -> list[str]:
        return [s for s in self.params.get("scope", "").split(" ") if s]


def parse_challenges(header: str) -> list[Challenge]:
    """Parse a ``WWW-Authenticate`` value (one or more challenges; RFC 7235 syntax)."""
    out: list[Challenge] = []
    text = header.strip()
    while text:
        match = re.match(r"([A-Za-z][A-Za-z0-9_-]*)\s*", text)
        if match is None:
            break
        scheme = match.group(1).lower()
        text = text[match.end() :]
        params: dict[str, str] = {}
        while text:
            param = _PARAM_RE.match(text)
            if param is None:
                break
            value = param.group(2) if param.group(2) is not None else param.group(3)
            params[param.group(1).lower()] = re.sub(r"\\(.)", r"\1", value or "")
            text = text[param.end() :]
        out.append(Challenge(scheme, params))
        text = text.lstrip(", ")
    return out


@dataclass(frozen=True, slots=True)
class Scope:
    """A resource scope: ``repository:team/app:pull,push`` or ``registry:catalog:search``."""

    type: str
    name: str
    actions: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"


def parse_scope(text: str) -> Scope:
    """Split at the first ``:`` (type) and the last ``:`` (actions); the name keeps any ``host:port``."""
    kind, sep, rest = text.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not kind or not name:
        raise InvalidArgument(f"invalid scope {text!r}: expected type:name:actions")
    kind = kind.split("(", 1)[0]  # repository(plugin) → repository
    return Scope(kind, name, tuple(a for a in actions.split(",") if a))


def merge_scopes(scopes: Iterable[str]) -> list[str]:
    """Union the actions of scopes naming the same resource; sorted, stable strings."""
    merged: dict[tuple[str, str], list[str]] = {}
    for text in scopes:
        try:
            scope = parse_scope(text)
        except InvalidArgument:
            continue
        actions = merged.setdefault((scope.type, scope.name), [])
        actions.extend(a for a in scope.actions if a not in actions)
    return [str(Scope(t, n, tuple(sorted(a)))) for (t, n), a in sorted(merged.items())]


def repository_scope(repo: str, *actions: str) -> str:
    return str(Scope("repository", repo, actions or ("pull",)))


@dataclass(slots=True)
class Token:
    """A bearer token and when it stops being usable (monotonic seconds)."""

    value: str
    expires: float
    refresh_token: str = ""

    @classmethod
    def from_response(cls, body: Mapping[str, Any]) -> Token:
        value = body.get("token") or body.get("access_token")
        if not isinstance(value, str) or not value:
            raise InvalidArgument("token server answered without a token")
        ttl = body.get("expires_in")
        seconds = ttl if isinstance(ttl, int) and ttl > 0 else _DEFAULT_TTL
        refresh = body.get("refresh_token")
        return cls(value, time.monotonic() + max(seconds - _EXPIRY_MARGIN, 1), str(refresh or ""))

    @property
    def valid(self) -> bool:
        return time.monotonic() < self.expires
