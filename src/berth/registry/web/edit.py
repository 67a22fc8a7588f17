"""The form where a repository's owners set its one-line description and its README (Markdown)."""

from __future__ import annotations

from urllib.parse import quote

from berth.registry.web.templates import h


def edit_body(repo: str, description: str, readme: str, csrf: str, error: str = "") -> str:
    message = f'<p class="error edit-error">{h(error)}</p>' if error else ""
    return (
        f'<h1>Edit <a href="/r/{quote(repo)}">{h(repo)}</a></h1>{message}'
        f'<form method="post" action="/edit/{quote(repo)}" class="repo edit">'
        f'<input type="hidden" name="csrf" value="{h(csrf)}">'
        "<p><label>Description (one line, shown in search results and by <code>docker search</code>)<br>"
        f'<input name="description" value="{h(description)}" maxlength="512" class="wide"></label></p>'
        "<p><label>README (Markdown: headings, lists, code, links, tables; raw HTML is shown as text)<br>"
        f'<textarea name="readme" rows="18" class="wide">{h(readme)}</textarea></label></p>'
        f'<button type="submit" class="save">Save</button> <a href="/r/{quote(repo)}">Cancel</a></form>'
    )
