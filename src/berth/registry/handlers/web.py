"""The web page: search and browse repositories, a repository page with tags, digests, sizes, created
times, layers and the pull command (and, for its owners, its webhooks with their last deliveries),
and sign-in (a signed session cookie) to see private repositories.

Server-rendered HTML, readable without JavaScript. A private repository the viewer may not pull is
answered exactly as a missing one (404 "Not found").
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import web

from berth.errors import BerthError
from berth.oci import mediatypes as mt
from berth.registry.accounts.service import User
from berth.registry.auth.acl import DELETE
from berth.registry.auth.basic import parse_basic
from berth.registry.auth.throttle import TooManyLogins
from berth.registry.auth.tokens import SESSION, InvalidToken, check_stamp
from berth.registry.handlers.context import REGISTRY_KEY
from berth.registry.hub.pulls import ALL
from berth.registry.hub.readme import render as render_readme
from berth.registry.manifests import StoredManifest
from berth.registry.repositories import RepositoryInfo
from berth.registry.service import Registry
from berth.registry.web import templates as t

COOKIE = "berth_session"
_SESSION_TTL = 12 * 3600
_PAGE_LIMIT = 200
_HOOK_LOG = 10  # deliveries shown per webhook


def _viewer(registry: Registry, request: web.Request) -> User | None:
    cookie = request.cookies.get(COOKIE)
    if cookie:
        try:
            claims = registry.tokens.verify(cookie, kind=SESSION)
            user = registry.accounts.get_user(str(claims.get("sub", "")))
            check_stamp(claims, user)
        except InvalidToken:
            return None
        return user
    creds = parse_basic(request.headers.get("Authorization", ""))
    if not creds:
        return None
    try:
        return registry.logins.verify(*creds, address=request.remote or "", via="web", record=False)
    except TooManyLogins:
        return None


def _html(title: str, body: str, user: User | None, status: int = 200) -> web.Response:
    return web.Response(
        text=t.page(title, body, user=user.name if user else None),
        status=status,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"},
    )


async def index(request: web.Request) -> web.StreamResponse:
    registry = request.app[REGISTRY_KEY]
    user = _viewer(registry, request)
    query, sort = request.query.get("q", ""), request.query.get("sort", "")
    if sort not in t.SORTS:
        body = t.index_body(query, [], 0) + f'<p class="error">Unknown sort {t.h(sort)!s}.</p>'
        return _html("Search", body, user, status=400)
    popularity = registry.hub.popularity()
    found = registry.repos.search(query, lambda info: registry.policy.can_pull(user, info), popularity)
    if sort:  # stable: the match order stays within equal counts
        first = 0 if sort == "stars" else 1
        found.sort(key=lambda info: tuple(-n for n in _counts(popularity, info.name, first)))
    rows = []
    for info in found[:_PAGE_LIMIT]:
        summary = registry.repos.summary(info)
        stars, pulls = popularity.get(info.name, (0, 0))
        rows.append(
            t.RepoRow(
                info.name,
                info.visibility,
                info.description,
                summary["tags"],
                summary["updated"],
                stars,
                pulls,
            )
        )
    return _html("Search" if query else "Repositories", t.index_body(query, rows, len(found), sort), user)


def _counts(popularity: dict[str, tuple[int, int]], name: str, first: int) -> tuple[int, int]:
    """(stars, pulls) of ``name``, or (pulls, stars) when ``first`` is 1."""
    pair = popularity.get(name, (0, 0))
    return (pair[first], pair[1 - first])


def _tag_row(registry: Registry, name: str, detail: dict[str, Any]) -> t.TagRow:
    stored = StoredManifest(str(detail["digest"]), str(detail["media_type"]), int(detail["size"]))
    row = t.TagRow(str(detail["tag"]), stored.digest, stored.media_type, 0, "-", "-")
    try:
        doc = json.loads(registry.manifests.content(stored))
        if stored.media_type in mt.INDEXES:
            for child in doc.get("manifests", []):
                platform = child.get("platform") or {}
                label = "/".join(
                    str(platform[k]) for k in ("os", "architecture", "variant") if platform.get(k)
                )
                child_digest = str(child.get("digest"))
                row.children.append((label or "unknown", child_digest))
                child_row = registry.manifests.resolve(name, child_digest)
                child_detail = {"tag": "", "digest": child_digest, "media_type": child_row.media_type}
                row.size += _tag_row(registry, name, {**child_detail, "size": child_row.size}).size
            row.platform = ", ".join(label for label, _ in row.children)
            return row
        config_desc = doc.get("config") or {}
        layers = doc.get("layers") or []
        row.layers = [
            t.LayerRow(str(x.get("digest")), str(x.get("mediaType")), int(x.get("size", 0))) for x in layers
        ]
        row.size += int(config_desc.get("size", 0)) + sum(layer.size for layer in row.layers)
        config = json.loads(registry.blobs.get_bytes(str(config_desc.get("digest"))))
        if isinstance(config, dict):
            created = str(config.get("created") or "-")
            row.created = created.replace("T", " ")[:19] + (" UTC" if created != "-" else "")
            row.platform = (
                "/".join(str(config[k]) for k in ("os", "architecture", "variant") if config.get(k)) or "-"
            )
    except (BerthError, ValueError, TypeError):
        pass  # a non-image artifact or a config that is not JSON: show what the manifest row says
    return row


def _visible(request: web.Request) -> tuple[Registry, User | None, str, RepositoryInfo | web.Response]:
    """The registry, viewer, repository name and its row, or the 404 page if the viewer may not see it."""
    registry = request.app[REGISTRY_KEY]
    user = _viewer(registry, request)
    name = request.match_info["name"].strip("/")
    info = registry.repos.get(name)
    if info is None or not registry.policy.can_pull(user, info):
        return registry, user, name, _html("Not found", t.not_found_body(name), user, status=404)
    return registry, user, name, info


async def repository(request: web.Request) -> web.StreamResponse:
    registry, user, name, info = _visible(request)
    if isinstance(info, web.Response):
        return info
    tags = [_tag_row(registry, name, d) for d in registry.manifests.tag_details(name)[:_PAGE_LIMIT]]
    hub = registry.hub
    page = t.RepoPage(
        info.name,
        info.visibility,
        info.description,
        render_readme(hub.descriptions.readme(name)),
        hub.stars.count(name),
        hub.pulls.of(name).get(ALL, (0, None))[0],
        hub.stars.starred(name, user.name) if user else None,
    )
    body = t.repo_body(page, request.host, tags)
    if DELETE in registry.policy.actions(user, name, info):  # its owners
        body += t.webhooks_section(_hook_rows(registry, name))
    return _html(info.name, body, user)


async def star(request: web.Request) -> web.StreamResponse:
    """The star button: a signed-in viewer who may pull the repository stars or unstars it."""
    registry, user, name, info = _visible(request)
    if isinstance(info, web.Response):
        return info
    origin = request.headers.get("Origin")
    if user is None or (origin and urlsplit(origin).netloc != request.host):  # only from our own page
        return _html("Sign in", t.login_body("Sign in to star repositories."), None, status=401)
    action = str((await request.post()).get("action", ""))
    if action == "star":
        registry.hub.stars.star(name, user.name)
    elif action == "unstar":
        registry.hub.stars.unstar(name, user.name)
    else:
        return _html("Bad request", f'<p class="error">Unknown action {t.h(action)}.</p>', user, status=400)
    return web.Response(status=303, headers={"Location": f"/r/{quote(name)}"})


def _hook_rows(registry: Registry, name: str) -> list[t.HookRow]:
    rows = []
    for hook in registry.webhooks.for_repository(name):
        log = registry.webhooks.deliveries(hook.id, last=_HOOK_LOG)
        attempts = [(e.time, e.event, e.attempt, e.error or str(e.status)) for e in log]
        events = ",".join(hook.events)
        rows.append(
            t.HookRow(hook.id, hook.target, hook.url, events, registry.webhooks.pending(hook.id), attempts)
        )
    return rows


async def login_form(request: web.Request) -> web.StreamResponse:
    registry = request.app[REGISTRY_KEY]
    return _html("Sign in", t.login_body(None), _viewer(registry, request))


async def login(request: web.Request) -> web.StreamResponse:
    registry = request.app[REGISTRY_KEY]
    form = await request.post()
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    try:
        user = registry.logins.verify(username, password, address=request.remote or "", via="web")
    except TooManyLogins as exc:
        response = _html(
            "Sign in",
            t.login_body(f"Too many failed attempts: try again in {exc.retry_after} s.", username),
            None,
            status=429,
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if user is None:
        return _html("Sign in", t.login_body("Wrong username or password.", username), None, status=401)
    response = web.Response(status=303, headers={"Location": "/"})
    session = registry.tokens.issue(user.name, [], kind=SESSION, ttl=_SESSION_TTL, stamp=user.stamp)
    response.set_cookie(
        COOKIE, session, max_age=_SESSION_TTL, httponly=True, samesite="Lax", secure=request.secure, path="/"
    )
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    response = web.Response(status=303, headers={"Location": "/"})
    response.del_cookie(COOKIE, path="/")
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_get(r"/r/{name:.+}", repository)
    app.router.add_post(r"/star/{name:.+}", star)
