"""The hub on the web page: the README rendered safely, stars and pulls, the star button, sorting."""

from __future__ import annotations

from registry_helpers import Client, push_image

from berth.registry.service import Registry

README = """# Tools

Some **bold** text and a [safe link](https://example.com/docs).

<script>alert("readme")</script>
<img src=x onerror="alert(1)">

[bad](javascript:alert(1)) [Bad](JaVaScRiPt:alert(2)) <javascript:alert(3)> [data](data:text/html,hi)
"""


async def _sign_in(client: Client, user: str, password: str) -> None:
    r = await client.post("/login", data={"username": user, "password": password}, allow_redirects=False)
    assert r.status == 303


async def test_readme_is_rendered_without_scripts_raw_html_or_javascript_links(
    client: Client, registry: Registry
) -> None:
    await push_image(client, "alice/tools", "v1")
    registry.repos.set_visibility("alice/tools", "public")
    registry.hub.descriptions.set("alice/tools", "Handy tools", README)
    html = await (await client.get("/r/alice/tools")).text()
    assert "<h1>Tools</h1>" in html and "<strong>bold</strong>" in html
    assert '<a href="https://example.com/docs">safe link</a>' in html
    assert "<script" not in html.lower() and "<img" not in html
    assert 'href="javascript' not in html.lower() and 'href="data:' not in html
    assert "&lt;script&gt;" in html  # shown as text, not run
    assert "Handy tools" in html


async def test_star_button_for_signed_in_viewers(client: Client, registry: Registry) -> None:
    await push_image(client, "alice/tools", "v1")
    registry.repos.set_visibility("alice/tools", "public")
    html = await (await client.get("/r/alice/tools")).text()
    assert "0 stars" in html and 'action="/star/alice/tools"' not in html  # anonymous: no button
    r = await client.post("/star/alice/tools", data={"action": "star"}, allow_redirects=False)
    assert r.status == 401 and registry.hub.stars.count("alice/tools") == 0

    await _sign_in(client, "bob", "bobpw")
    html = await (await client.get("/r/alice/tools")).text()
    assert 'action="/star/alice/tools"' in html and "☆ Star" in html
    r = await client.post("/star/alice/tools", data={"action": "star"}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/r/alice/tools"
    assert registry.hub.stars.starred("alice/tools", "bob")
    html = await (await client.get("/r/alice/tools")).text()
    assert "★ 1 star<" in html and "★ Unstar" in html
    r = await client.post(
        "/star/alice/tools", data={"action": "star"}, headers={"Origin": "https://evil.example"}
    )
    assert r.status == 401  # another site's form does not star for the viewer
    r = await client.post("/star/alice/tools", data={"action": "explode"})
    assert r.status == 400
    await client.post("/star/alice/tools", data={"action": "unstar"})
    assert registry.hub.stars.count("alice/tools") == 0

    await push_image(client, "alice/secret", "v1")
    r = await client.post("/star/alice/secret", data={"action": "star"})
    assert r.status == 404 and registry.hub.stars.count("alice/secret") == 0  # bob may not see it


async def test_index_shows_and_sorts_by_stars_and_pulls(client: Client, registry: Registry) -> None:
    for name in ("alice/aa", "alice/bb", "alice/cc"):
        await push_image(client, name, "v1")
        registry.repos.set_visibility(name, "public")
    registry.hub.stars.star("alice/bb", "bob")
    for _ in range(2):
        await client.get("/v2/alice/cc/manifests/v1")

    def order(html: str) -> list[str]:
        return sorted(("alice/aa", "alice/bb", "alice/cc"), key=lambda n: html.index(f">{n}</a>"))

    html = await (await client.get("/")).text()
    assert order(html) == ["alice/bb", "alice/cc", "alice/aa"]  # no term: stars, then pulls
    assert "★ 1 star · 0 pulls" in html and "★ 0 stars · 2 pulls" in html
    html = await (await client.get("/", params={"sort": "pulls"})).text()
    assert order(html) == ["alice/cc", "alice/bb", "alice/aa"]
    assert "<b>Most pulls</b>" in html and '<a href="/?sort=stars">Most stars</a>' in html
    html = await (await client.get("/", params={"q": "a b", "sort": "stars"})).text()
    assert '<input type="hidden" name="sort" value="stars">' in html  # a new search keeps the order
    assert '<a href="/?q=a+b&amp;sort=pulls">Most pulls</a>' in html
    registry.hub.descriptions.set("alice/cc", "aa tools", None)
    html = await (await client.get("/", params={"q": "aa"})).text()
    assert ">alice/bb</a>" not in html
    assert html.index(">alice/aa</a>") < html.index(">alice/cc</a>")  # a name match beats a description's
    html = await (await client.get("/", params={"q": "aa", "sort": "pulls"})).text()
    assert html.index(">alice/cc</a>") < html.index(">alice/aa</a>")
    r = await client.get("/", params={"sort": "size"})
    assert r.status == 400 and "Unknown sort size" in await r.text()
