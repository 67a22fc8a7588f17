"""The forms owners use on the web page: a repository's description and README (``/edit/NAME``) and
webhooks of a repository or an organisation (``/webhooks/TARGET``), with their CSRF tokens and the
refusals others get, over the real app in process."""

from __future__ import annotations

import re

from registry_helpers import ALICE, Client, push_image

from berth.registry.service import Registry


async def _sign_in(client: Client, user: str, password: str) -> None:
    client.session.cookie_jar.clear()
    r = await client.post("/login", data={"username": user, "password": password}, allow_redirects=False)
    assert r.status == 303


def _token(html: str, form_class: str) -> str:
    """The CSRF token of the first form whose class list has ``form_class``."""
    found = re.search(
        rf'<form[^>]*class="[^"]*\b{form_class}\b[^"]*">.*?name="csrf" value="([0-9a-f]{{64}})"', html, re.S
    )
    assert found, html
    return found.group(1)


async def test_owner_edits_the_description_and_readme(client: Client, registry: Registry) -> None:
    await push_image(client, "alice/app", "v1")
    registry.repos.set_visibility("alice/app", "public")
    await _sign_in(client, "alice", "alicepw")
    assert 'href="/edit/alice/app"' in await (await client.get("/r/alice/app")).text()
    r = await client.get("/edit/alice/app")
    assert r.status == 200
    token = _token(await r.text(), "edit")
    readme = "# Hello\r\n\r\nRun it:\r\n\r\n    docker run alice/app\r\n\r\n<script>alert(1)</script>\r\n"

    r = await client.post(
        "/edit/alice/app", data={"description": "x", "readme": "y", "csrf": "0" * 64}, allow_redirects=False
    )
    assert r.status == 403 and registry.hub.descriptions.readme("alice/app") == ""
    r = await client.post(
        "/edit/alice/app",
        data={"description": "two\nlines", "readme": readme, "csrf": token},
        allow_redirects=False,
    )
    html = await r.text()
    assert r.status == 400 and "the description is one line" in html
    assert "# Hello" in html  # what was typed stays in the form
    r = await client.post(
        "/edit/alice/app",
        data={"description": "The app, described", "readme": readme, "csrf": token},
        allow_redirects=False,
    )
    assert r.status == 303 and r.headers["Location"] == "/r/alice/app?saved=1"
    assert registry.hub.descriptions.readme("alice/app") == readme.replace("\r\n", "\n")
    html = await (await client.get("/r/alice/app?saved=1")).text()
    assert "Saved the description and README" in html and "The app, described" in html
    assert "<h1>Hello</h1>" in html and "<code>docker run alice/app" in html
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    search = await (await client.get("/v1/search", params={"q": "app"})).json()
    assert [r["description"] for r in search["results"]] == ["The app, described"]
    r = await client.get("/api/v1/repositories/alice/app")
    assert (await r.json())["description"] == "The app, described"


async def test_others_cannot_edit(client: Client, registry: Registry) -> None:
    await push_image(client, "alice/app", "v1")
    registry.repos.set_visibility("alice/app", "public")
    assert (await client.get("/edit/alice/app")).status == 401  # anonymous: sign in first
    await _sign_in(client, "bob", "bobpw")
    assert 'href="/edit/alice/app"' not in await (await client.get("/r/alice/app")).text()
    r = await client.get("/edit/alice/app")
    assert r.status == 403 and "bob may not edit alice/app: only its owners may" in await r.text()
    r = await client.post("/edit/alice/app", data={"description": "bob's", "csrf": "x"})
    assert r.status == 403
    client.session.cookie_jar.clear()
    r = await client.post("/edit/alice/app", data={"description": "basic", "csrf": "x"}, headers=ALICE)
    assert r.status == 403  # no session, no change
    assert registry.repos.get("alice/app").description == ""  # type: ignore[union-attr]
    await push_image(client, "alice/secret", "v1")
    await _sign_in(client, "bob", "bobpw")
    assert (await client.get("/edit/alice/secret")).status == 404  # private: not there for bob


async def test_owner_adds_and_removes_a_repository_webhook(client: Client, registry: Registry) -> None:
    await push_image(client, "alice/app", "v1")
    await _sign_in(client, "alice", "alicepw")
    html = await (await client.get("/r/alice/app")).text()
    assert "No webhooks yet" in html
    token = _token(html, "add-hook")
    url = "http://127.0.0.1:9/hook"

    for data, message in (
        ({"url": "ftp://127.0.0.1/hook", "secret": "s"}, "must be http:// or https://"),
        ({"url": url, "secret": ""}, "must not be empty"),
        ({"url": url, "secret": "s", "events": "scan"}, "no vulnerability scanner"),
    ):
        r = await client.post("/webhooks/alice/app", data={"action": "add", "csrf": token, **data})
        assert r.status == 400 and message in await r.text()
    assert registry.webhooks.hooks() == []
    r = await client.post(
        "/webhooks/alice/app",
        data=[
            ("action", "add"),
            ("csrf", token),
            ("url", url),
            ("secret", "s3cret"),
            ("events", "push"),
            ("events", "pull"),
        ],
        allow_redirects=False,
    )
    assert r.status == 303 and r.headers["Location"] == "/r/alice/app#webhooks"
    (hook,) = registry.webhooks.hooks()
    assert (hook.target, hook.url, hook.secret, hook.events) == ("alice/app", url, "s3cret", ("push", "pull"))
    html = await (await client.get("/r/alice/app")).text()
    assert f'id="hook-{hook.id}"' in html and "push,pull of alice/app" in html and "s3cret" not in html
    r = await client.post("/webhooks/alice/app", data={"action": "remove", "id": hook.id, "csrf": "0" * 64})
    assert r.status == 403 and len(registry.webhooks.hooks()) == 1
    r = await client.post(
        "/webhooks/alice/app", data={"action": "remove", "id": hook.id, "csrf": token}, allow_redirects=False
    )
    assert r.status == 303 and registry.webhooks.hooks() == []

    await _sign_in(client, "bob", "bobpw")
    registry.repos.set_visibility("alice/app", "public")
    assert "add-hook" not in await (await client.get("/r/alice/app")).text()
    r = await client.post(
        "/webhooks/alice/app", data={"action": "add", "url": url, "secret": "s", "csrf": "x"}
    )
    assert r.status == 403 and registry.webhooks.hooks() == []


async def test_organisation_webhooks_are_set_on_its_page(client: Client, registry: Registry) -> None:
    registry.accounts.add_org("acme", "alice")
    await push_image(client, "acme/web", "v1")
    url = "http://127.0.0.1:9/org-hook"
    await _sign_in(client, "alice", "alicepw")
    token = _token(await (await client.get("/o/acme")).text(), "add-hook")
    r = await client.post(
        "/webhooks/acme",
        data={"action": "add", "url": url, "secret": "s", "events": "delete", "csrf": token},
        allow_redirects=False,
    )
    assert r.status == 303 and r.headers["Location"] == "/o/acme#webhooks"
    (hook,) = registry.webhooks.hooks()
    assert (hook.target, hook.events) == ("acme", ("delete",))
    assert f'id="hook-{hook.id}"' in await (await client.get("/o/acme")).text()
    html = await (
        await client.get("/r/acme/web")
    ).text()  # shown on its repositories, changed on the org's page
    assert f'id="hook-{hook.id}"' in html and 'Set on <a href="/o/acme">acme</a>' in html
    repo_token = _token(html, "add-hook")
    r = await client.post("/webhooks/acme/web", data={"action": "remove", "id": hook.id, "csrf": repo_token})
    assert r.status == 400 and f"no webhook {hook.id} on acme/web" in await r.text()
    assert (await client.post("/webhooks/nobody", data={"action": "add"})).status == 404

    await _sign_in(client, "bob", "bobpw")
    assert "add-hook" not in await (await client.get("/o/acme")).text()
    r = await client.post("/webhooks/acme", data={"action": "remove", "id": hook.id, "csrf": "x"})
    assert r.status == 403 and "bob may not change the webhooks of acme" in await r.text()
    assert len(registry.webhooks.hooks()) == 1
