"""The front page (search, sorted by match, stars or pulls), sign-in and sign-out, and the star button."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from berth.registry.auth.throttle import TooManyLogins
from berth.registry.auth.tokens import SESSION
from berth.registry.handlers.context import REGISTRY_KEY
from berth.registry.handlers.web.session import COOKIE, SESSION_TTL, html, same_origin, viewer
from berth.registry.handlers.web.visible import visible
from berth.registry.web import templates as t

PAGE_LIMIT = 200


async def index(request: web.Request) -> web.StreamResponse:
    registry = request.app[REGISTRY_KEY]
    user = viewer(registry, request)
    query, sort = request.query.get("q", ""), request.query.get("sort", "")
    if sort not in t.SORTS:
        body = t.index_body(query, [], 0) + f'<p class="error">Unknown sort {t.h(sort)!s}.</p>'
        return html("Search", body, user, status=400)
    popularity = registry.hub.popularity()
    found = registry.repos.search(query, lambda info: registry.policy.can_pull(user, info), popularity)
    if sort:  # stable: the match order stays within equal counts
        first = 0 if sort == "stars" else 1
        found.sort(key=lambda info: tuple(-n for n in _counts(popularity, info.name, first)))
    rows = []
    for info in found[:PAGE_LIMIT]:
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
    return html("Search" if query else "Repositories", t.index_body(query, rows, len(found), sort), user)


def _counts(popularity: dict[str, tuple[int, int]], name: str, first: int) -> tuple[int, int]:
    """(stars, pulls) of ``name``, or (pulls, stars) when ``first`` is 1."""
    pair = popularity.get(name, (0, 0))
    return (pair[first], pair[1 - first])


async def star(request: web.Request) -> web.StreamResponse:
    """The star button: a signed-in viewer who may pull the repository stars or unstars it."""
    registry, user, name, info = visible(request)
    if isinstance(info, web.Response):
        return info
    if user is None or not same_origin(request):  # only from our own page
        return html("Sign in", t.login_body("Sign in to star repositories."), None, status=401)
    action = str((await request.post()).get("action", ""))
    if action == "star":
        registry.hub.stars.star(name, user.name)
    elif action == "unstar":
        registry.hub.stars.unstar(name, user.name)
    else:
        return html("Bad request", f'<p class="error">Unknown action {t.h(action)}.</p>', user, status=400)
    return web.Response(status=303, headers={"Location": f"/r/{quote(name)}"})


async def login_form(request: web.Request) -> web.StreamResponse:
    registry = request.app[REGISTRY_KEY]
    return html("Sign in", t.login_body(None), viewer(registry, request))


async def login(request: web.Request) -> web.StreamResponse:
    registry = request.app[REGISTRY_KEY]
    form = await request.post()
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    try:
        user = registry.logins.verify(username, password, address=request.remote or "", via="web")
    except TooManyLogins as exc:
        response = html(
            "Sign in",
            t.login_body(f"Too many failed attempts: try again in {exc.retry_after} s.", username),
            None,
            status=429,
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if user is None:
        return html("Sign in", t.login_body("Wrong username or password.", username), None, status=401)
    response = web.Response(status=303, headers={"Location": "/"})
    session = registry.tokens.issue(user.name, [], kind=SESSION, ttl=SESSION_TTL, stamp=user.stamp)
    response.set_cookie(
        COOKIE, session, max_age=SESSION_TTL, httponly=True, samesite="Lax", secure=request.secure, path="/"
    )
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    response = web.Response(status=303, headers={"Location": "/"})
    response.del_cookie(COOKIE, path="/")
    return response
