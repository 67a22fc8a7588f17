"""Webhooks from the web page: the section owners see on a repository's or a namespace's page, and
``POST /webhooks/TARGET`` (``action=add`` with url, secret and events; ``action=remove`` with id),
which does what ``berth-registry webhook add|rm`` does. TARGET is a repository (``NAMESPACE/NAME``)
or an organisation or user, whose repositories all notify. Owners only, signed in on the page."""

from __future__ import annotations

from aiohttp import web

from berth.errors import BerthError, InvalidArgument
from berth.registry.accounts.service import NAME_RE, User
from berth.registry.api.errors import from_berth_error
from berth.registry.handlers.context import REGISTRY_KEY, Identity, RequestContext
from berth.registry.handlers.web.owners import FORM_EXPIRED, owned_repository, refusal
from berth.registry.handlers.web.session import csrf_ok, csrf_token, html, viewer
from berth.registry.notify.envelope import ACTIONS
from berth.registry.notify.store import DEFAULT_EVENTS, parse_events
from berth.registry.service import Registry
from berth.registry.web import templates as t
from berth.registry.web import webhooks as wt

_LOG = 10  # deliveries shown per webhook
_NOT = "Webhooks not changed"
_DOING = "change the webhooks of"


def _purpose(target: str) -> str:
    return f"webhooks:{target}"


def section(request: web.Request, registry: Registry, target: str) -> str:
    """The webhooks section of ``target``'s page, for a viewer already known to own it."""
    if "/" in target:
        hooks = registry.webhooks.for_repository(target)  # with its namespace's
    else:
        hooks = [hook for hook in registry.webhooks.hooks() if hook.target == target]
    rows = []
    for hook in hooks:
        log = registry.webhooks.deliveries(hook.id, last=_LOG)
        attempts = [(e.time, e.event, e.attempt, e.error or str(e.status)) for e in log]
        pending = registry.webhooks.pending(hook.id)
        rows.append(wt.HookRow(hook.id, hook.target, hook.url, ",".join(hook.events), pending, attempts))
    form = wt.HookForm(target, csrf_token(request, _purpose(target)) or "", ACTIONS, DEFAULT_EVENTS)
    return wt.webhooks_section(rows, form)


def _owned_namespace(request: web.Request) -> tuple[Registry, User, str] | web.Response:
    """The organisation or user the request names and its owner looking at it, or the page anyone
    else gets."""
    registry = request.app[REGISTRY_KEY]
    user = viewer(registry, request)
    name = request.match_info["name"].strip("/")
    known = NAME_RE.match(name) and (
        registry.accounts.is_org(name) or registry.accounts.get_user(name) is not None
    )
    if not known:
        return html("Not found", t.not_found_body(name), user, status=404)
    refused = refusal(request, registry, user, name, None, doing=_DOING, title=_NOT)
    if refused is not None:
        return refused
    assert user is not None  # refusal answers anonymous viewers
    return registry, user, name


async def change(request: web.Request) -> web.StreamResponse:
    if "/" in request.match_info["name"].strip("/"):
        repository = owned_repository(request, doing=_DOING, title=_NOT)
        if isinstance(repository, web.Response):
            return repository
        registry, user, name, _ = repository
    else:
        namespace = _owned_namespace(request)
        if isinstance(namespace, web.Response):
            return namespace
        registry, user, name = namespace
    form = await request.post()
    if not csrf_ok(request, _purpose(name), str(form.get("csrf", ""))):
        return html(_NOT, t.refused_body(_NOT, name, FORM_EXPIRED), user, status=403)
    ctx = RequestContext(registry, request, Identity(user, None, True, "session"))
    action = str(form.get("action", ""))
    try:
        if action == "add":
            events = parse_events(",".join(str(e) for e in form.getall("events", [])) or None)
            hook = registry.webhooks.add(name, str(form.get("url", "")), str(form.get("secret", "")), events)
            ctx.audit("webhook-add", name, id=hook.id)
        elif action == "remove":
            hook_id = str(form.get("id", ""))
            found = registry.webhooks.get(hook_id)
            if found is None or found.target != name:  # only this page's own hooks
                raise InvalidArgument(f"no webhook {hook_id} on {name}")
            registry.webhooks.remove(hook_id)
            ctx.audit("webhook-remove", name, id=hook_id)
        else:
            raise InvalidArgument(f"unknown action {action!r}: add or remove")
    except BerthError as exc:  # a bad URL, an empty secret, no such hook: say which, keep the page
        err = from_berth_error(exc)
        body = t.refused_body(_NOT, name, err.message)
        return html(_NOT, body, user, status=err.http_status)
    return web.Response(status=303, headers={"Location": f"{t.back_link(name)}#webhooks"})
