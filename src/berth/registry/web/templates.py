"""HTML templates of the web page. Every value passes through ``h()`` (HTML escaping) exactly once,
except a README, which ``hub.readme.render`` made safe HTML."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from html import escape
from urllib.parse import quote, urlencode

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d3557;color:#fff;padding:.8rem 1.5rem;display:flex;align-items:center;gap:1.5rem}
header a{color:#fff;text-decoration:none}header .brand{font-weight:700;font-size:1.2rem}
header form{margin:0}header .who{margin-left:auto;display:flex;gap:.8rem;align-items:center}
main{max-width:90rem;margin:1.5rem auto;padding:0 1rem}
.search{display:flex;gap:.5rem;margin-bottom:1.2rem}.search input{flex:1;padding:.55rem;font-size:1rem}
button,.button{padding:.5rem .9rem;border:0;border-radius:4px;background:#457b9d;color:#fff;
cursor:pointer;font-size:.95rem}
.repo{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:.8rem 1rem;margin:.5rem 0}
.repo a{font-weight:600;font-size:1.05rem;color:#1d3557}.muted{color:#667085;font-size:.9rem}
.badge{display:inline-block;font-size:.75rem;padding:.05rem .45rem;border-radius:9px;margin-left:.4rem;
background:#e9f2e5;color:#2b6a1f}.badge.private{background:#fbeaea;color:#8a1c1c}
table{border-collapse:collapse;width:100%;background:#fff}th,td{text-align:left;padding:.45rem .6rem;
border-bottom:1px solid #e4e7ec;font-size:.92rem;vertical-align:top}code{font-size:.85rem}
.pull{background:#0f172a;color:#e2e8f0;padding:.7rem 1rem;border-radius:6px;font-family:monospace;
user-select:all;margin:.8rem 0;overflow-x:auto}details{margin:.2rem 0}.error{color:#8a1c1c}
.nowrap{white-space:nowrap}td.muted{overflow-wrap:anywhere}
.stats{display:flex;gap:1rem;align-items:center}.stats form{margin:0}
.filter{display:flex;gap:.5rem;margin:.4rem 0 .8rem}.filter input{flex:1;max-width:24rem;padding:.4rem}
th a{color:#1d3557;text-decoration:none}th a:hover{text-decoration:underline}
.danger,button.danger{background:#b42318}a.danger{color:#fff;text-decoration:none}
.confirm-delete{margin-right:.8rem}.small{font-size:.78rem;padding:.2rem .45rem;white-space:nowrap}
.actions div{display:flex;flex-direction:column;gap:.3rem;text-align:center}details.referrers li{overflow-wrap:anywhere}
.scroll{overflow-x:auto}table.tags td.pushed,table.tags td.pulled{min-width:7.5rem}.notice{background:#ecfdf3;border:1px solid #abefc6;
border-radius:6px;padding:.6rem 1rem}.warn{background:#fffaeb;border:1px solid #fedf89;border-radius:6px;
padding:.6rem 1rem}.meter{background:#e4e7ec;border-radius:4px;height:.6rem;max-width:24rem}
.meter span{display:block;height:100%;border-radius:4px;background:#457b9d}
.wide{width:100%;max-width:48rem;padding:.4rem;font-size:.95rem;box-sizing:border-box}
textarea.wide{font-family:monospace}form.inline{margin:.3rem 0}label.check{margin-right:.8rem}
a.edit{margin-left:auto;color:#1d3557}td.media{overflow-wrap:normal}
.readme pre{background:#f3f4f6;padding:.6rem .8rem;border-radius:4px;overflow-x:auto}
.readme{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:.2rem 1.2rem;margin:1rem 0;
overflow-x:auto}
"""


def h(value: object) -> str:
    return escape(str(value), quote=True)


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


def when(timestamp: float | None) -> str:
    if not timestamp:
        return "-"
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def page(title: str, body: str, *, user: str | None) -> str:
    if user:
        who = (
            f"<span>Signed in as <b>{h(user)}</b></span>"
            '<form method="post" action="/logout"><button type="submit">Sign out</button></form>'
        )
    else:
        who = '<a class="button" href="/login">Sign in</a>'
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{h(title)} · berth-registry</title><style>{_CSS}</style></head><body>"
        f'<header><a class="brand" href="/">berth-registry</a><div class="who">{who}</div></header>'
        f"<main>{body}</main></body></html>"
    )


@dataclass(slots=True)
class RepoRow:
    name: str
    visibility: str
    description: str
    tags: int
    updated: float | None
    stars: int = 0
    pulls: int = 0


SORTS = {"": "Best match", "stars": "Most stars", "pulls": "Most pulls"}


def _sort_links(query: str, sort: str) -> str:
    """Links, not a select in the form, so that a plain search stays ``/?q=TERM``."""
    links = []
    for key, label in SORTS.items():
        params = urlencode({k: v for k, v in (("q", query), ("sort", key)) if v})
        if key == sort:
            links.append(f"<b>{h(label)}</b>")
        else:
            links.append(f'<a href="/{"?" + h(params) if params else ""}">{h(label)}</a>')
    return f'<p class="muted sort">Sort: {" · ".join(links)}</p>'


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def index_body(query: str, repos: list[RepoRow], total: int, sort: str = "") -> str:
    rows = "".join(
        f'<div class="repo"><a href="/r/{quote(r.name)}">{h(r.name)}</a>'
        f'<span class="badge {h(r.visibility)}">{h(r.visibility)}</span>'
        f'<div class="muted">{h(r.description) or "&nbsp;"}</div>'
        f'<div class="muted">{plural(r.tags, "tag")} · ★ {plural(r.stars, "star")} · '
        f"{plural(r.pulls, 'pull')} · updated {h(when(r.updated))}</div></div>"
        for r in repos
    )
    heading = f"Results for “{h(query)}”" if query else "Repositories"
    empty = '<p class="muted">No repositories found.</p>' if not repos else ""
    return (
        '<form class="search" method="get" action="/">'
        f'<input type="search" name="q" value="{h(query)}" placeholder="Search repositories" '
        'aria-label="Search">'
        + (f'<input type="hidden" name="sort" value="{h(sort)}">' if sort else "")
        + '<button type="submit">Search</button></form>'
        f'<h2>{heading} <span class="muted">({total})</span></h2>{_sort_links(query, sort)}{rows}{empty}'
    )


def stamp(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def login_body(error: str | None, username: str = "") -> str:
    message = f'<p class="error">{h(error)}</p>' if error else ""
    return (
        f"<h1>Sign in</h1>{message}"
        '<form method="post" action="/login" class="repo">'
        f'<p><label>Username<br><input name="username" value="{h(username)}" '
        'autocomplete="username"></label></p>'
        '<p><label>Password<br><input name="password" type="password" autocomplete="current-password">'
        '</label></p><button type="submit">Sign in</button></form>'
    )


def not_found_body(name: str) -> str:
    return (
        f'<h1>Not found</h1><p>There is no repository named <b>{h(name)}</b>.</p><p><a href="/">Back</a></p>'
    )


def back_link(name: str) -> str:
    """The page of a repository (``NAMESPACE/NAME``) or of a namespace."""
    return f"/r/{quote(name)}" if "/" in name else f"/o/{quote(name)}"


def refused_body(title: str, name: str, message: str) -> str:
    return (
        f'<h1>{h(title)}</h1><p class="error refused">{h(message)}</p>'
        f'<p><a href="{back_link(name)}">Back to {h(name)}</a></p>'
    )
