"""Who may change a repository or a namespace from the web page, and the answer for those who may not.

The forms that change things (deletes, the description and README, webhooks) are for a signed-in
viewer only: a session cookie, not Basic credentials a browser replays on its own, which cannot prove
the form came from this page. Each form carries a CSRF token (``session.csrf_token``) for its purpose.
"""

from __future__ import annotations

from aiohttp import web

from berth.registry.accounts.service import User
from berth.registry.auth.acl import DELETE
from berth.registry.handlers.web.session import COOKIE, html
from berth.registry.handlers.web.visible import visible
from berth.registry.repositories import RepositoryInfo
from berth.registry.service import Registry
from berth.registry.web import templates as t

FORM_EXPIRED = "The form expired or did not come from this page: open the page again."


def owns_namespace(registry: Registry, user: User | None, namespace: str) -> bool:
    """The namespace's own user, its organisation's owner, or an admin."""
    if user is None:
        return False
    return user.admin or user.name == namespace or user.name == registry.accounts.org_owner(namespace)


def refusal(
    request: web.Request,
    registry: Registry,
    user: User | None,
    name: str,
    info: RepositoryInfo | None,
    *,
    doing: str,
    title: str,
) -> web.Response | None:
    """The answer for a viewer who may not ``doing`` (e.g. "delete tags in") repository ``name``, or
    the namespace ``name`` when ``info`` is None; None if they may. Owners of a repository are those
    holding ``delete`` on it (``auth.acl``: its namespace's user, the org owner, an admin team, an admin)."""
    if user is None:
        return html("Sign in", t.login_body(f"Sign in to {doing} {name}."), None, status=401)
    allowed = (
        DELETE in registry.policy.actions(user, name, info)
        if info is not None
        else owns_namespace(registry, user, name)
    )
    if not allowed:
        message = f"{user.name} may not {doing} {name}: only its owners may."
        return html(title, t.refused_body(title, name, message), user, status=403)
    if not request.cookies.get(COOKIE):
        message = f"Sign in on this page (not with browser-sent credentials) to {doing} {name}."
        return html(title, t.refused_body(title, name, message), user, status=403)
    return None


def owned_repository(
    request: web.Request, *, doing: str, title: str
) -> tuple[Registry, User, str, RepositoryInfo] | web.Response:
    """The repository the request names and its owner looking at it, or the page anyone else gets."""
    registry, user, name, info = visible(request)
    if isinstance(info, web.Response):
        return info
    refused = refusal(request, registry, user, name, info, doing=doing, title=title)
    if refused is not None:
        return refused
    assert user is not None  # refusal answers anonymous viewers
    return registry, user, name, info
