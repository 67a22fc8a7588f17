"""The repository page: header (description, stars, pulls, pull command), the tags table (sortable by
name, pushed, pulled and size, filtered by a text; plain links and a GET form, so it works without
JavaScript), each tag's layers, platforms and referrers, delete buttons for owners, the README."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from berth.registry.web.templates import h, human_size, plural, when

# sort key -> (column label, default order): times and sizes biggest first, names A to Z
TAG_SORTS = {
    "name": ("Tag", "asc"),
    "pushed": ("Pushed", "desc"),
    "pulled": ("Pulled", "desc"),
    "size": ("Size", "desc"),
}
ORDERS = ("asc", "desc")


@dataclass(slots=True)
class LayerRow:
    digest: str
    media_type: str
    size: int


@dataclass(slots=True)
class Referrer:
    artifact_type: str
    digest: str
    media_type: str
    size: int
    platform: str = ""  # set when it refers to one platform's manifest of an index


@dataclass(slots=True)
class TagRow:
    tag: str
    digest: str
    media_type: str
    size: int
    pushed: float | None
    pulled: float | None
    pulls: int
    created: str = "-"
    platform: str = "-"
    layers: list[LayerRow] = field(default_factory=list)
    children: list[tuple[str, str]] = field(default_factory=list)  # (os/arch/variant, digest)
    referrers: list[Referrer] = field(default_factory=list)


@dataclass(slots=True)
class RepoPage:
    name: str
    visibility: str
    description: str
    readme_html: str
    stars: int
    pulls: int
    starred: bool | None  # None: the viewer is not signed in (no star button)
    can_delete: bool = False


@dataclass(slots=True)
class TagView:
    """What the tags table shows: the filter and sort in force, and how many tags matched."""

    query: str = ""
    sort: str = "pushed"
    order: str = "desc"
    matched: int = 0
    total: int = 0
    deleted: str = ""  # the reference a delete just removed (the notice after the redirect)
    saved: bool = False  # the description and README were just saved (the notice after the redirect)


def _short_type(media_type: str) -> str:
    return media_type.removeprefix("application/vnd.")


def _breakable(media_type: str) -> str:
    """A media type that wraps after its dots and pluses, not in the middle of a word."""
    return h(media_type).replace(".", ".<wbr>").replace("+", "+<wbr>")


def _short(digest: str) -> str:
    return digest.split(":", 1)[-1][:12]


def _layers(t: TagRow) -> str:
    items = "".join(
        f'<tr><td><code title="{h(layer.digest)}">{h(layer.digest[:19])}…</code></td>'
        f'<td class="nowrap">{h(human_size(layer.size))}</td>'
        f'<td class="muted media" title="{h(layer.media_type)}">{_breakable(_short_type(layer.media_type))}</td></tr>'
        for layer in t.layers
    )
    return (
        f'<details class="layers"><summary>{plural(len(t.layers), "layer")}</summary>'
        f"<table><tr><th>Layer digest</th><th>Size</th><th>Media type</th></tr>{items}</table></details>"
    )


def _platforms(t: TagRow) -> str:
    items = "".join(f'<li>{h(p)} <code title="{h(d)}">{h(d[:19])}…</code></li>' for p, d in t.children)
    return f'<details class="platforms"><summary>{plural(len(t.children), "platform")}</summary><ul>{items}</ul></details>'


def _referrers(t: TagRow) -> str:
    if not t.referrers:
        return ""
    items = "".join(
        f"<li><b>{_breakable(r.artifact_type or _short_type(r.media_type))}</b> "
        f'<code title="{h(r.digest)}">{h(r.digest[:19])}…</code> {h(human_size(r.size))}'
        + (f' <span class="muted">(of {h(r.platform)})</span>' if r.platform else "")
        + "</li>"
        for r in t.referrers
    )
    return (
        f'<details class="referrers" open><summary>{plural(len(t.referrers), "referrer")} '
        f"(signatures, SBOMs…)</summary><ul>{items}</ul></details>"
    )


def _delete_links(name: str, t: TagRow) -> str:
    tag_url = f"/delete/{quote(name)}?{urlencode({'reference': t.tag})}"
    digest_url = f"/delete/{quote(name)}?{urlencode({'reference': t.digest})}"
    return (
        f'<a class="button danger small delete-tag" href="{h(tag_url)}">Delete tag</a>'
        f'<a class="button danger small delete-manifest" href="{h(digest_url)}">Delete manifest</a>'
    )


def _header_link(name: str, view: TagView, key: str) -> str:
    label, default = TAG_SORTS[key]
    if key == view.sort:
        order = "asc" if view.order == "desc" else "desc"
        arrow = " ▲" if view.order == "asc" else " ▼"
    else:
        order, arrow = default, ""
    params = urlencode({k: v for k, v in (("q", view.query), ("sort", key), ("order", order)) if v})
    return f'<a class="sort-{key}" href="/r/{quote(name)}?{h(params)}#tags">{h(label)}{arrow}</a>'


def _filter_form(name: str, view: TagView) -> str:
    return (
        f'<form class="filter" method="get" action="/r/{quote(name)}">'
        f'<input type="search" name="q" value="{h(view.query)}" placeholder="Filter tags" aria-label="Filter tags">'
        f'<input type="hidden" name="sort" value="{h(view.sort)}"><input type="hidden" name="order" value="{h(view.order)}">'
        '<button type="submit">Filter</button></form>'
    )


def _tags_table(repo: RepoPage, view: TagView, tags: list[TagRow]) -> str:
    if view.total == 0:
        return '<p class="muted">No tags yet.</p>'
    rows = "".join(
        f'<tr id="tag-{h(t.tag)}" class="tag"><td class="name"><b>{h(t.tag)}</b></td>'
        f'<td><code class="digest" title="{h(t.digest)}">{h(_short(t.digest))}</code></td>'
        f'<td class="nowrap size">{h(human_size(t.size))}</td>'
        f'<td class="pushed">{h(when(t.pushed))}</td>'
        f'<td class="pulled">{h(when(t.pulled) if t.pulled else "never")}'
        f'<br><span class="muted">{plural(t.pulls, "pull")}</span></td>'
        f'<td class="nowrap">{h(t.created)}</td><td class="platform">{h(t.platform)}</td>'
        f"<td>{_platforms(t) if t.children else _layers(t)}{_referrers(t)}</td>"
        + (f'<td class="actions"><div>{_delete_links(repo.name, t)}</div></td>' if repo.can_delete else "")
        + "</tr>"
        for t in tags
    )
    head = (
        f"<tr><th>{_header_link(repo.name, view, 'name')}</th><th>Digest</th><th>{_header_link(repo.name, view, 'size')}</th>"
        f"<th>{_header_link(repo.name, view, 'pushed')}</th><th>{_header_link(repo.name, view, 'pulled')}</th>"
        "<th>Created</th><th>Platform</th><th>Layers · referrers</th>"
        + ("<th></th>" if repo.can_delete else "")
        + "</tr>"
    )
    shown = (
        f'<p class="muted count">{len(tags)} of {plural(view.matched, "matching tag")} shown · '
        f"{plural(view.total, 'tag')} in all</p>"
    )
    empty = f'<p class="muted">No tag matches “{h(view.query)}”.</p>' if not tags else ""
    return f'{shown}<div class="scroll"><table class="tags">{head}{rows}</table></div>{empty}'


def _star_button(repo: RepoPage) -> str:
    if repo.starred is None:
        return ""
    action, label = ("unstar", "★ Unstar") if repo.starred else ("star", "☆ Star")
    return (
        f'<form method="post" action="/star/{quote(repo.name)}">'
        f'<input type="hidden" name="action" value="{action}">'
        f'<button type="submit" class="star">{label}</button></form>'
    )


def _deleted_notice(view: TagView) -> str:
    if not view.deleted:
        return ""
    what = "manifest" if ":" in view.deleted else "tag"
    return (
        f'<p class="notice deleted">Deleted {what} <code>{h(view.deleted)}</code>. Layers and manifests '
        "nothing else uses are removed from storage at the next garbage collection "
        "(<code>berth-registry gc</code>).</p>"
    )


def _saved_notice(view: TagView) -> str:
    return '<p class="notice saved">Saved the description and README.</p>' if view.saved else ""


def _edit_link(repo: RepoPage) -> str:
    if not repo.can_delete:
        return ""
    return f'<a class="edit" href="/edit/{quote(repo.name)}">Edit description and README</a>'


def repo_body(repo: RepoPage, host: str, view: TagView, tags: list[TagRow], extra: str = "") -> str:
    first = tags[0].tag if tags else "latest"
    namespace = repo.name.split("/", 1)[0] if "/" in repo.name else ""
    crumbs = f'<p class="muted"><a href="/o/{quote(namespace)}">{h(namespace)}</a> /</p>' if namespace else ""
    return (
        f"{crumbs}{_deleted_notice(view)}{_saved_notice(view)}"
        f'<h1>{h(repo.name)}<span class="badge {h(repo.visibility)}">{h(repo.visibility)}</span></h1>'
        f'<p class="muted description">{h(repo.description)}</p>'
        f'<div class="stats"><span class="stars">★ {plural(repo.stars, "star")}</span>'
        f'<span class="pulls">{plural(repo.pulls, "pull")}</span>{_star_button(repo)}{_edit_link(repo)}</div>'
        f'<div class="pull" aria-label="Pull command">docker pull {h(host)}/{h(repo.name)}:{h(first)}</div>'
        f'<h2 id="tags">Tags</h2>{_filter_form(repo.name, view) if view.total else ""}{_tags_table(repo, view, tags)}'
        + (
            f'<h2 id="readme">README</h2><div class="readme">{repo.readme_html}</div>'
            if repo.readme_html
            else ""
        )
        + extra
    )
