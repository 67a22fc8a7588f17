"""The repository page (``GET /r/NAME?q=FILTER&sort=name|pushed|pulled|size&order=asc|desc``).

The table's rows come from metadata alone (tags, manifests, their references and blob sizes, pull
counts), so filtering and sorting cost no storage reads; only the tags shown (at most ``PAGE_LIMIT``)
have their manifest and config read for layers, platforms and created times.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from berth.errors import BerthError
from berth.oci import mediatypes as mt
from berth.registry.auth.acl import DELETE
from berth.registry.handlers.web import hooks
from berth.registry.handlers.web.session import html
from berth.registry.handlers.web.visible import visible
from berth.registry.hub.pulls import ALL
from berth.registry.hub.readme import render as render_readme
from berth.registry.manifests import StoredManifest
from berth.registry.service import Registry
from berth.registry.web import repository as rt
from berth.registry.web import templates as t

PAGE_LIMIT = 200


def _platform_label(platform: dict[str, Any]) -> str:
    return "/".join(str(platform[k]) for k in ("os", "architecture", "variant") if platform.get(k))


def _referrers(found: dict[str, list[dict[str, Any]]], digest: str, platform: str = "") -> list[rt.Referrer]:
    return [
        rt.Referrer(
            str(r["artifact_type"] or ""), str(r["digest"]), str(r["media_type"]), int(r["size"]), platform
        )
        for r in found.get(digest, [])
    ]


def _fill(registry: Registry, name: str, row: rt.TagRow, found: dict[str, list[dict[str, Any]]]) -> None:
    """Layers or platforms, created time and referrers of a tag that is shown (reads its manifest)."""
    row.referrers = _referrers(found, row.digest)
    try:
        doc = json.loads(registry.manifests.content(StoredManifest(row.digest, row.media_type, 0)))
        if row.media_type in mt.INDEXES:
            for child in doc.get("manifests", []):
                label = _platform_label(child.get("platform") or {}) or "unknown"
                row.children.append((label, str(child.get("digest"))))
                row.referrers += _referrers(found, str(child.get("digest")), label)
            row.platform = ", ".join(label for label, _ in row.children)
            return
        config_desc = doc.get("config") or {}
        row.layers = [
            rt.LayerRow(str(x.get("digest")), str(x.get("mediaType")), int(x.get("size", 0)))
            for x in doc.get("layers") or []
        ]
        config = json.loads(registry.blobs.get_bytes(str(config_desc.get("digest"))))
        if isinstance(config, dict):
            created = str(config.get("created") or "-")
            row.created = created.replace("T", " ")[:19] + (" UTC" if created != "-" else "")
            row.platform = _platform_label(config) or "-"
    except (BerthError, ValueError, TypeError):
        pass  # a non-image artifact or a config that is not JSON: show what the metadata says


def _view(request: web.Request) -> rt.TagView | str:
    """The filter and sort the query asks for, or the one-line error for a bad one."""
    sort = request.query.get("sort") or "pushed"
    if sort not in rt.TAG_SORTS:
        return f"Unknown sort {sort!r}: use one of {', '.join(rt.TAG_SORTS)}."
    order = request.query.get("order") or rt.TAG_SORTS[sort][1]
    if order not in rt.ORDERS:
        return f"Unknown order {order!r}: use asc or desc."
    return rt.TagView(
        request.query.get("q", "").strip(),
        sort,
        order,
        deleted=request.query.get("deleted", ""),
        saved=request.query.get("saved") == "1",
    )


def tag_rows(registry: Registry, name: str, view: rt.TagView) -> list[rt.TagRow]:
    """Every tag of ``name`` matching the view's filter, in its order (metadata only); sets the counts."""
    sizes = registry.manifests.image_sizes(name)
    pulls = registry.hub.pulls.of(name)
    rows = []
    details = registry.manifests.tag_details(name)
    view.total = len(details)
    needle = view.query.lower()
    for d in details:
        tag = str(d["tag"])
        if needle and needle not in tag.lower():
            continue
        digest = str(d["digest"])
        count, last = pulls.get(tag, (0, None))
        rows.append(
            rt.TagRow(tag, digest, str(d["media_type"]), sizes.get(digest, 0), d["updated"], last, count)
        )
    keys = {
        "name": lambda r: (r.tag,),
        "pushed": lambda r: (r.pushed or 0.0, r.tag),
        "pulled": lambda r: (r.pulled or 0.0, r.pulls, r.tag),
        "size": lambda r: (r.size, r.tag),
    }
    rows.sort(key=keys[view.sort], reverse=view.order == "desc")
    view.matched = len(rows)
    return rows


async def repository(request: web.Request) -> web.StreamResponse:
    registry, user, name, info = visible(request)
    if isinstance(info, web.Response):
        return info
    view = _view(request)
    if isinstance(view, str):
        return html("Bad request", f'<p class="error">{t.h(view)}</p>', user, status=400)
    tags = tag_rows(registry, name, view)[:PAGE_LIMIT]
    found = registry.manifests.referrers_by_subject(name)
    for row in tags:
        _fill(registry, name, row, found)
    hub = registry.hub
    owner = DELETE in registry.policy.actions(user, name, info)
    page = rt.RepoPage(
        info.name,
        info.visibility,
        info.description,
        render_readme(hub.descriptions.readme(name)),
        hub.stars.count(name),
        hub.pulls.of(name).get(ALL, (0, None))[0],
        hub.stars.starred(name, user.name) if user else None,
        can_delete=owner,
    )
    extra = hooks.section(request, registry, name) if owner else ""
    return html(info.name, rt.repo_body(page, request.host, view, tags, extra), user)
