"""Who is looking at the web page (a signed session cookie, or Basic auth), the HTML answer, and the
CSRF token that the page's state-changing forms carry."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from aiohttp import web

from berth.registry.accounts.service import User
from berth.registry.auth.basic import parse_basic
from berth.registry.auth.throttle import TooManyLogins
from berth.registry.auth.tokens import SESSION, InvalidToken, check_stamp
from berth.registry.service import Registry
from berth.registry.web import templates as t

COOKIE = "berth_session"
SESSION_TTL = 12 * 3600


def viewer(registry: Registry, request: web.Request) -> User | None:
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


def html(title: str, body: str, user: User | None, status: int = 200) -> web.Response:
    return web.Response(
        text=t.page(title, body, user=user.name if user else None),
        status=status,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"},
    )


def same_origin(request: web.Request) -> bool:
    """False when the browser says the form was posted from another site (``Origin``)."""
    origin = request.headers.get("Origin")
    return not origin or urlsplit(origin).netloc == request.host


def csrf_token(request: web.Request, purpose: str) -> str | None:
    """A token only the holder of the session cookie can know (an HMAC keyed by the cookie, which is
    HttpOnly), for one ``purpose`` (e.g. ``delete:REPO``); None without a session. A new sign-in
    makes a new cookie and so voids the tokens of the old one."""
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    return hmac.new(cookie.encode(), f"berth-csrf:{purpose}".encode(), hashlib.sha256).hexdigest()


def csrf_ok(request: web.Request, purpose: str, sent: str) -> bool:
    expected = csrf_token(request, purpose)
    return expected is not None and same_origin(request) and hmac.compare_digest(expected, sent)
