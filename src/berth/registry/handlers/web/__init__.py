"""The web page: search and browse repositories (``/``), a repository page (``/r/NAME``: README,
tags sortable and filterable, layers, platforms, referrers, pull command), namespace pages
(``/o/NAME``: an organisation's or user's repositories, teams, usage), deletes by owners
(``/delete/NAME``, confirmed, CSRF-checked), the description and README (``/edit/NAME``) and
webhooks (``/webhooks/TARGET``) set by owners, stars, and sign-in (a signed session cookie) to see
private repositories.

Server-rendered HTML, readable without JavaScript. A private repository the viewer may not pull is
answered exactly as a missing one (404 "Not found").
"""

from __future__ import annotations

from aiohttp import web

from berth.registry.handlers.web import browse, deletes, edit, hooks, organisation, repository


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", browse.index)
    app.router.add_get("/login", browse.login_form)
    app.router.add_post("/login", browse.login)
    app.router.add_post("/logout", browse.logout)
    app.router.add_get(r"/r/{name:.+}", repository.repository)
    app.router.add_get(r"/o/{namespace}", organisation.namespace)
    app.router.add_post(r"/star/{name:.+}", browse.star)
    app.router.add_get(r"/delete/{name:.+}", deletes.confirm)
    app.router.add_post(r"/delete/{name:.+}", deletes.delete)
    app.router.add_get(r"/edit/{name:.+}", edit.form)
    app.router.add_post(r"/edit/{name:.+}", edit.save)
    app.router.add_post(r"/webhooks/{name:.+}", hooks.change)
