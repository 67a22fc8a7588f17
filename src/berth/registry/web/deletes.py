"""The delete confirmation page and the answers a refused delete gets."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from berth.registry.web.templates import h, plural

GC_NOTE = (
    "Layers, configs and manifests that nothing else uses stay in storage until the next garbage "
    "collection (<code>berth-registry gc</code>) removes them."
)


@dataclass(slots=True)
class DeletePlan:
    repo: str
    reference: str  # a tag or a digest
    digest: str  # the manifest it names
    tags: list[str]  # the tags naming that manifest
    referrers: int  # manifests whose subject it is


def confirm_body(plan: DeletePlan, csrf: str) -> str:
    by_digest = plan.reference == plan.digest
    if by_digest:
        what = f"the manifest <code>{h(plan.digest)}</code>"
        also = (
            f"<p>This also removes {plural(len(plan.tags), 'tag')} naming it: "
            + ", ".join(f"<b>{h(t)}</b>" for t in plan.tags)
            + ".</p>"
            if plan.tags
            else "<p>No tag names it.</p>"
        )
    else:
        what = f"the tag <b>{h(plan.reference)}</b>"
        others = [t for t in plan.tags if t != plan.reference]
        also = (
            f"<p>The manifest <code>{h(plan.digest)}</code> it names stays, reachable by its digest"
            + (f" and by {', '.join(f'<b>{h(t)}</b>' for t in others)}" if others else "")
            + ".</p>"
        )
    referrers = (
        f"<p>{plural(plan.referrers, 'referrer')} (signatures, SBOMs) of this manifest stay until deleted "
        "themselves.</p>"
        if plan.referrers and by_digest
        else ""
    )
    return (
        f'<h1>Delete from <a href="/r/{quote(plan.repo)}">{h(plan.repo)}</a>?</h1>'
        f'<div class="warn confirm"><p>You are about to delete {what} from <b>{h(plan.repo)}</b>. '
        f"This cannot be undone.</p>{also}{referrers}<p>{GC_NOTE}</p></div>"
        f'<form method="post" action="/delete/{quote(plan.repo)}" class="repo">'
        f'<input type="hidden" name="reference" value="{h(plan.reference)}">'
        f'<input type="hidden" name="csrf" value="{h(csrf)}">'
        f'<button type="submit" class="danger confirm-delete">Delete</button> '
        f'<a href="/r/{quote(plan.repo)}">Cancel</a></form>'
    )
