"""Deletes from the web page: ``GET /delete/NAME?reference=TAG|DIGEST`` shows what would go and asks
to confirm; the confirmation POSTs ``/delete/NAME`` with a CSRF token tied to the session.

Only the repository's owners, signed in on the page, may (``owners.refusal``). The delete itself is
``handlers.manifests.delete_reference``, the path of ``DELETE /v2/NAME/manifests/REF``: the same
checks, webhook event and audit line.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from aiohttp import web

from berth.errors import BerthError
from berth.registry.api.errors import RegistryError, from_berth_error
from berth.registry.handlers.context import Identity, RequestContext
from berth.registry.handlers.manifests import delete_reference
from berth.registry.handlers.web.owners import FORM_EXPIRED, owned_repository
from berth.registry.handlers.web.session import csrf_ok, csrf_token, html
from berth.registry.web import deletes as dt
from berth.registry.web import templates as t

_NOT = "Not deleted"
_DOING = "delete tags and manifests of"


def _purpose(name: str) -> str:
    return f"delete:{name}"


async def confirm(request: web.Request) -> web.StreamResponse:
    owned = owned_repository(request, doing=_DOING, title=_NOT)
    if isinstance(owned, web.Response):
        return owned
    registry, user, name, _ = owned
    reference = request.query.get("reference", "")
    try:
        stored = registry.manifests.resolve(name, reference)
    except RegistryError as err:
        return html(_NOT, t.refused_body(_NOT, name, f"{reference}: {err.message}"), user, status=404)
    tags = [str(d["tag"]) for d in registry.manifests.tag_details(name) if d["digest"] == stored.digest]
    referrers = len(registry.manifests.referrers(name, stored.digest, None))
    plan = dt.DeletePlan(name, reference, stored.digest, sorted(tags), referrers)
    token = csrf_token(request, _purpose(name)) or ""
    return html(f"Delete from {name}", dt.confirm_body(plan, token), user)


async def delete(request: web.Request) -> web.StreamResponse:
    owned = owned_repository(request, doing=_DOING, title=_NOT)
    if isinstance(owned, web.Response):
        return owned
    registry, user, name, _ = owned
    form = await request.post()
    reference, sent = str(form.get("reference", "")), str(form.get("csrf", ""))
    if not csrf_ok(request, _purpose(name), sent):
        return html(_NOT, t.refused_body(_NOT, name, FORM_EXPIRED), user, status=403)
    ctx = RequestContext(registry, request, Identity(user, None, True, "session"))
    try:
        delete_reference(ctx, name, reference)
    except BerthError as exc:  # an immutable tag, one deleted meanwhile, a bad reference: say why
        err = from_berth_error(exc)
        body = t.refused_body(_NOT, name, f"{reference}: {err.message}")
        return html(_NOT, body, user, status=err.http_status)
    query = urlencode({"deleted": reference})
    return web.Response(status=303, headers={"Location": f"/r/{quote(name)}?{query}"})
