"""The token endpoint (``realm``): GET with Basic or anonymous, POST OAuth2 (password, refresh_token).

Requested actions are intersected with what the caller holds; an empty grant is still a 200 with a
token (distribution's token spec), and only bad credentials are a 401.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web

from berth.registry.accounts.service import User
from berth.registry.auth.acl import ALL_ACTIONS
from berth.registry.auth.basic import parse_basic
from berth.registry.auth.scope import Scope, parse_scopes
from berth.registry.auth.throttle import TooManyLogins
from berth.registry.auth.tokens import REFRESH, InvalidToken, check_stamp
from berth.registry.handlers.context import REGISTRY_KEY
from berth.registry.service import Registry

_REFRESH_TTL = 90 * 24 * 3600


def _denied(message: str) -> web.Response:
    return web.json_response(
        {"errors": [{"code": "UNAUTHORIZED", "message": message}]},
        status=401,
        headers={"WWW-Authenticate": 'Basic realm="berth-registry"'},
    )


def grant(registry: Registry, user: User | None, scopes: list[Scope]) -> list[dict[str, Any]]:
    """The ``access`` claim: each requested scope narrowed to what ``user`` may do."""
    access: list[dict[str, Any]] = []
    for scope in scopes:
        if scope.type == "repository":
            wanted = set(ALL_ACTIONS) if "*" in scope.actions else set(scope.actions)
            held = registry.policy.actions(user, scope.name)
            actions = sorted(wanted & held)
        elif scope.type == "registry" and scope.name == "catalog":
            actions = sorted(set(scope.actions) & {"*", "search"})
        else:
            actions = []
        access.append({"type": scope.type, "name": scope.name, "actions": actions})
    return access


def _too_many(exc: TooManyLogins) -> web.Response:
    return web.json_response(
        {"errors": [{"code": "TOOMANYREQUESTS", "message": str(exc)}]},
        status=429,
        headers={"Retry-After": str(exc.retry_after)},
    )


async def handle_token(request: web.Request) -> web.StreamResponse:
    try:
        return await _token(request)
    except TooManyLogins as exc:
        return _too_many(exc)


async def _token(request: web.Request) -> web.StreamResponse:
    registry = request.app[REGISTRY_KEY]
    address = request.remote or ""
    user: User | None = None
    offline = False
    if request.method == "POST":
        form = await request.post()
        grant_type = str(form.get("grant_type", ""))
        scopes = parse_scopes([str(form.get("scope", ""))])
        if grant_type == "password":
            username, password = str(form.get("username", "")), str(form.get("password", ""))
            user = registry.logins.verify(username, password, address=address, via="token")
            if user is None:
                return _denied("invalid username or password")
            offline = str(form.get("access_type", "")) == "offline"
        elif grant_type == "refresh_token":
            try:
                claims = registry.tokens.verify(str(form.get("refresh_token", "")), kind=REFRESH)
            except InvalidToken as exc:
                return _denied(str(exc))
            user = registry.accounts.get_user(str(claims.get("sub", "")))
            if user is None:
                return _denied("account no longer exists")
            try:
                check_stamp(claims, user)
            except InvalidToken as exc:
                return _denied(str(exc))
        else:
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
    else:
        scopes = parse_scopes(request.query.getall("scope", []))
        header = request.headers.get("Authorization", "")
        if header:
            creds = parse_basic(header)
            user = registry.logins.verify(*creds, address=address, via="token") if creds else None
            if user is None:
                return _denied("invalid username or password")
        offline = request.query.get("offline_token", "") == "true"
    subject, stamp = (user.name, user.stamp) if user else ("", "")
    token = registry.tokens.issue(subject, grant(registry, user, scopes), stamp=stamp)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    body: dict[str, Any] = {
        "token": token,
        "access_token": token,
        "expires_in": registry.tokens.ttl,
        "issued_at": now.isoformat().replace("+00:00", "Z"),
    }
    if offline and user is not None:
        body["refresh_token"] = registry.tokens.issue(
            subject, [], kind=REFRESH, ttl=_REFRESH_TTL, stamp=stamp
        )
    return web.json_response(body)
