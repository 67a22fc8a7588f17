"""The namespace page (``/o/NAME``): an organisation's or a user's repositories, the teams the viewer
may see, and the namespace's storage usage against its quota."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from berth.registry.web.templates import RepoRow, h, human_size, plural, when


@dataclass(frozen=True, slots=True)
class TeamRow:
    name: str
    members: list[str]
    grants: list[tuple[str, str]]  # (repository or ORG/*, pull|push|admin)


@dataclass(slots=True)
class NamespacePage:
    name: str
    kind: str  # "organisation" | "user"
    owner: str  # the organisation's owner ("" for a user)
    repos: list[RepoRow] = field(default_factory=list)
    teams: list[TeamRow] | None = None  # None: the viewer is not signed in
    usage: tuple[int, int | None] | None = None  # (bytes used, quota); None: not shown to this viewer


def _repos(page: NamespacePage) -> str:
    if not page.repos:
        return '<p class="muted">No repositories you can see.</p>'
    return "".join(
        f'<div class="repo"><a href="/r/{quote(r.name)}">{h(r.name)}</a>'
        f'<span class="badge {h(r.visibility)}">{h(r.visibility)}</span>'
        f'<div class="muted">{h(r.description) or "&nbsp;"}</div>'
        f'<div class="muted">{plural(r.tags, "tag")} · ★ {plural(r.stars, "star")} · '
        f"{plural(r.pulls, 'pull')} · updated {h(when(r.updated))}</div></div>"
        for r in page.repos
    )


def _teams(page: NamespacePage) -> str:
    if page.kind != "organisation":
        return ""
    if page.teams is None:
        return '<h2>Teams</h2><p class="muted">Sign in to see your teams.</p>'
    if not page.teams:
        return '<h2>Teams</h2><p class="muted">No teams you are in.</p>'
    rows = "".join(
        f'<tr class="team" id="team-{h(team.name)}"><td><b>{h(team.name)}</b></td>'
        f"<td>{h(', '.join(team.members)) or '-'}</td>"
        f"<td>{'<br>'.join(f'{h(repo)}: {h(access)}' for repo, access in team.grants) or '-'}</td></tr>"
        for team in page.teams
    )
    return f'<h2>Teams</h2><table class="teams"><tr><th>Team</th><th>Members</th><th>Grants</th></tr>{rows}</table>'


def _usage(page: NamespacePage) -> str:
    if page.usage is None:
        return ""
    used, quota = page.usage
    if quota is None:
        text = f"<b>{h(human_size(used))}</b> used · no quota"
        meter = ""
    else:
        percent = 100.0 * used / quota if quota else 100.0
        text = f"<b>{h(human_size(used))}</b> used of {h(human_size(quota))} ({percent:.0f}%)"
        meter = (
            f'<div class="meter" role="meter"><span style="width:{min(percent, 100.0):.1f}%"></span></div>'
        )
    return (
        f'<h2>Usage</h2><p class="usage">{text}</p>{meter}'
        '<p class="muted">Bytes of the distinct blobs (layers, configs, manifests) its repositories hold; '
        "deleted images count until the next garbage collection.</p>"
    )


def namespace_body(page: NamespacePage, extra: str = "") -> str:
    owner = f" · owner <b>{h(page.owner)}</b>" if page.owner else ""
    return (
        f'<h1>{h(page.name)}</h1><p class="muted">{h(page.kind)}{owner} · '
        f"{len(page.repos)} repositor{'y' if len(page.repos) == 1 else 'ies'}</p>"
        f"{_usage(page)}<h2>Repositories</h2>{_repos(page)}{_teams(page)}{extra}"
    )


def unknown_namespace_body(name: str) -> str:
    return f'<h1>Not found</h1><p>There is no organisation or user named <b>{h(name)}</b>.</p><p><a href="/">Back</a></p>'
