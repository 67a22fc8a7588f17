"""The namespace page ``GET /o/NAME`` (``/o/`` as repositories live under ``/r/``, so no repository
name can collide with it): an organisation's or user's repositories that the viewer may pull, the
teams the viewer may see (all of them for the org's owner and admins, else the viewer's own), and
the namespace's usage and quota for those who belong to it, and its webhooks for its owners."""

from __future__ import annotations

from aiohttp import web

from berth.registry.accounts.service import NAME_RE, User
from berth.registry.handlers.context import REGISTRY_KEY
from berth.registry.handlers.web import hooks
from berth.registry.handlers.web.owners import owns_namespace
from berth.registry.handlers.web.session import html, viewer
from berth.registry.service import Registry
from berth.registry.web import organisation as ot
from berth.registry.web import templates as t


def _teams(registry: Registry, org: str, owner: str, user: User | None) -> list[ot.TeamRow] | None:
    if user is None:
        return None
    teams = registry.accounts.teams(org)
    if not (user.admin or user.name == owner):
        teams = [team for team in teams if user.name in team.members]
    return [ot.TeamRow(team.name, team.members, team.grants) for team in teams]


def _belongs(user: User | None, name: str, owner: str, teams: list[ot.TeamRow] | None) -> bool:
    """Whether ``user`` may see the namespace's usage: it is theirs, they own it, or are in a team."""
    if user is None:
        return False
    return user.admin or user.name in (name, owner) or bool(teams)


async def namespace(request: web.Request) -> web.StreamResponse:
    registry = request.app[REGISTRY_KEY]
    user = viewer(registry, request)
    name = request.match_info["namespace"]
    owner = registry.accounts.org_owner(name) if NAME_RE.match(name) else None
    is_user = (
        owner is None and NAME_RE.match(name) is not None and registry.accounts.get_user(name) is not None
    )
    if owner is None and not is_user:
        return html("Not found", ot.unknown_namespace_body(name), user, status=404)
    popularity = registry.hub.popularity()
    repos = []
    for info in registry.repos.in_namespace(name):
        if not registry.policy.can_pull(user, info):
            continue
        summary = registry.repos.summary(info)
        stars, pulls = popularity.get(info.name, (0, 0))
        repos.append(
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
    teams = _teams(registry, name, owner, user) if owner is not None else None
    page = ot.NamespacePage(name, "organisation" if owner is not None else "user", owner or "", repos, teams)
    if _belongs(user, name, owner or "", teams):
        page.usage = registry.quotas.usage(name)
    extra = hooks.section(request, registry, name) if owns_namespace(registry, user, name) else ""
    return html(name, ot.namespace_body(page, extra), user)
