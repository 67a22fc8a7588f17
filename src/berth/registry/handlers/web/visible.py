"""The repository a web request names, if its viewer may see it (else the page a missing one gets)."""

from __future__ import annotations

from aiohttp import web

from berth.registry.accounts.service import User
from berth.registry.handlers.context import REGISTRY_KEY
from berth.registry.handlers.web.session import html, viewer
from berth.registry.repositories import RepositoryInfo
from berth.registry.service import Registry
from berth.registry.web import templates as t


def visible(request: web.Request) -> tuple[Registry, User | None, str, RepositoryInfo | web.Response]:
    """The registry, viewer, repository name and its row, or the 404 page if the viewer may not see it
    (a private repository answers exactly as a missing one)."""
    registry = request.app[REGISTRY_KEY]
    user = viewer(registry, request)
    name = request.match_info["name"].strip("/")
    info = registry.repos.get(name)
    if info is None or not registry.policy.can_pull(user, info):
        return registry, user, name, html("Not found", t.not_found_body(name), user, status=404)
    return registry, user, name, info
