"""``GET /edit/NAME``: the form for a repository's description and README; ``POST /edit/NAME`` saves
them (``hub.descriptions.set``, as ``PUT /api/v1/repositories/NAME`` and ``repo describe`` do) and
goes back to the repository's page. Owners only, signed in on the page (``owners.refusal``)."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from berth.errors import BerthError
from berth.registry.api.errors import from_berth_error
from berth.registry.handlers.context import Identity, RequestContext
from berth.registry.handlers.web.owners import FORM_EXPIRED, owned_repository
from berth.registry.handlers.web.session import csrf_ok, csrf_token, html
from berth.registry.web import edit as et
from berth.registry.web import templates as t

_NOT = "Not saved"


def _purpose(name: str) -> str:
    return f"edit:{name}"


async def form(request: web.Request) -> web.StreamResponse:
    owned = owned_repository(request, doing="edit", title=_NOT)
    if isinstance(owned, web.Response):
        return owned
    registry, user, name, info = owned
    token = csrf_token(request, _purpose(name)) or ""
    readme = registry.hub.descriptions.readme(name)
    return html(f"Edit {name}", et.edit_body(name, info.description, readme, token), user)


async def save(request: web.Request) -> web.StreamResponse:
    owned = owned_repository(request, doing="edit", title=_NOT)
    if isinstance(owned, web.Response):
        return owned
    registry, user, name, _ = owned
    fields = await request.post()
    sent = str(fields.get("csrf", ""))
    if not csrf_ok(request, _purpose(name), sent):
        return html(_NOT, t.refused_body(_NOT, name, FORM_EXPIRED), user, status=403)
    # Browsers send textarea lines as CRLF; the README is kept as the CLI and the API send it.
    description = str(fields.get("description", ""))
    readme = str(fields.get("readme", "")).replace("\r\n", "\n")
    try:
        registry.hub.descriptions.set(name, description, readme)
    except BerthError as exc:  # a description of two lines or too long, a README too long: say which
        err = from_berth_error(exc)
        body = et.edit_body(name, description, readme, sent, error=err.message)
        return html(f"Edit {name}", body, user, status=err.http_status)
    ctx = RequestContext(registry, request, Identity(user, None, True, "session"))
    ctx.audit("describe", name, fields="description,readme")
    return web.Response(status=303, headers={"Location": f"/r/{quote(name)}?saved=1"})
