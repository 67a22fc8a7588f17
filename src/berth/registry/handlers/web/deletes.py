"""Deletes from the web page: ``GET /delete/NAME?reference=TAG|DIGEST`` shows what would go and asks
to confirm; the confirmation POSTs ``/delete/NAME`` with a CSRF token tied to the session.

Only a signed-in viewer (session cookie: Basic credentials a browser replays on its own cannot prove
the form came from this page) who holds ``delete`` on the repository (``auth.acl``: its namespace's
user, the org owner, a team with ``admin``, an admin) may. The delete itself is
``handlers.manifests.delete_reference``, the path of ``DELETE /v2/NAME/manifests/REF``: the same
checks, webhook event and audit line.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from aiohttp import web

from berth.errors import BerthError
from berth.registry.accounts.service import User
from berth.registry.api.errors import RegistryError, from_berth_error
from berth.registry.auth.acl import DELETE
from berth.registry.handlers.context import Identity, RequestContext
from berth.registry.handlers.manifests import delete_reference
from berth.registry.handlers.web.session import COOKIE, csrf_ok, csrf_token, html
from berth.registry.handlers.web.visible import visible
from berth.registry.repositories import RepositoryInfo
from berth.registry.service import Registry
from berth.registry.web import deletes as dt
from berth.registry.web import templates as t


def _refusal(
    request: web.Request, registry: Registry, user: User | None, name: str, info: RepositoryInfo
) -> web.Response | None:
    """The answer for a viewer who may not delete in ``name`` from the page, or None if they may."""
    if user is None:
        return html("Sign in", t.login_body("Sign in to delete tags and manifests."), None, status=401)
    if DELETE not in registry.policy.actions(user, name, info):
        message = f"{user.name} may not delete in {name}: only its owners may."
        return html("Not deleted", dt.refused_body(name, message), user, status=403)
    if not request.cookies.get(COOKIE):
        message = "Sign in on this page (not with browser-sent credentials) to delete."
        return html("Not deleted", dt.refused_body(name, message), user, status=403)
    return None


def _purpose(name: str) -> str:
    return f"delete:{name}"


async def confirm(request: web.Request) -> web.StreamResponse:
    registry, user, name, info = visible(request)
    if isinstance(info, web.Response):
        return info
    refused = _refusal(request, registry, user, name, info)
    if refused is not None:
        return refused
    reference = request.query.get("reference", "")
    try:
        stored = registry.manifests.resolve(name, reference)
    except RegistryError as err:
        return html("Not deleted", dt.refused_body(name, f"{reference}: {err.message}"), user, status=404)
    tags = [str(d["tag"]) for d in registry.manifests.tag_details(name) if d["digest"] == stored.digest]
    referrers = len(registry.manifests.referrers(name, stored.digest, None))
    plan = dt.DeletePlan(name, reference, stored.digest, sorted(tags), referrers)
    token = csrf_token(request, _purpose(name)) or ""
    return html(f"Delete from {name}", dt.confirm_body(plan, token), user)


async def delete(request: web.Request) -> web.StreamResponse:
    registry, user, name, info = visible(request)
    if isinstance(info, web.Response):
        return info
    refused = _refusal(request, registry, user, name, info)
    if refused is not None:
        return refused
    form = await request.post()
    reference, sent = str(form.get("reference", "")), str(form.get("csrf", ""))
    if not csrf_ok(request, _purpose(name), sent):
        message = "The form expired or did not come from this page: open the delete page again."
        return html("Not deleted", dt.refused_body(name, message), user, status=403)
    ctx = RequestContext(registry, request, Identity(user, None, True, "session"))
    try:
        delete_reference(ctx, name, reference)
    except BerthError as exc:  # an immutable tag, one deleted meanwhile, a bad reference: say why
        err = from_berth_error(exc)
        body = dt.refused_body(name, f"{reference}: {err.message}")
        return html("Not deleted", body, user, status=err.http_status)
    query = urlencode({"deleted": reference})
    return web.Response(status=303, headers={"Location": f"/r/{quote(name)}?{query}"})
