"""The server-rendered web page: search, repository page, sign-in, and private repositories hidden."""

from __future__ import annotations

from registry_helpers import ALICE, Client, push_image

from berth.registry.service import Registry


async def test_index_lists_public_only_for_anonymous(client: Client, registry: Registry) -> None:
    await push_image(client, "alice/public-app", "v1")
    await push_image(client, "alice/secret-app", "v1")
    registry.repos.set_visibility("alice/public-app", "public")
    r = await client.get("/")
    html = await r.text()
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/html")
    assert "alice/public-app" in html and "alice/secret-app" not in html
    r = await client.get("/", params={"q": "secret"})
    assert "alice/secret-app" not in await r.text()
    assert (await client.get("/r/alice/secret-app")).status == 404
    assert (await client.get("/r/alice/never-pushed")).status == 404


async def test_repository_page_shows_tags_layers_and_pull_command(client: Client, registry: Registry) -> None:
    digest, _ = await push_image(client, "alice/app", "v1", layer=b"L" * 2000)
    registry.repos.set_visibility("alice/app", "public")
    r = await client.get("/r/alice/app")
    html = await r.text()
    assert r.status == 200
    assert f"docker pull {r.url.host}:{r.url.port}/alice/app:v1" in html
    assert digest in html and "2026-01-02 03:04:05 UTC" in html and "linux/amd64" in html
    assert "1 layer" in html and "2.0 KB" in html


async def test_sign_in_shows_private_repositories(client: Client) -> None:
    await push_image(client, "alice/secret-app", "v1")
    r = await client.post("/login", data={"username": "alice", "password": "wrong"}, allow_redirects=False)
    assert r.status == 401 and "Wrong username or password" in await r.text()
    r = await client.post("/login", data={"username": "alice", "password": "alicepw"}, allow_redirects=False)
    assert r.status == 303 and "berth_session" in r.cookies
    r = await client.get("/")
    html = await r.text()
    assert "Signed in as <b>alice</b>" in html and "alice/secret-app" in html
    assert (await client.get("/r/alice/secret-app")).status == 200
    r = await client.post("/logout", allow_redirects=False)
    assert r.status == 303
    client.session.cookie_jar.clear()
    assert "alice/secret-app" not in await (await client.get("/")).text()


async def test_basic_auth_also_works_on_the_page(client: Client) -> None:
    await push_image(client, "alice/secret-app", "v1")
    assert "alice/secret-app" in await (await client.get("/", headers=ALICE)).text()


async def test_html_is_escaped(client: Client, registry: Registry) -> None:
    await push_image(
        client,
        "alice/xss",
        "v1",
        extra={"annotations": {"org.opencontainers.image.description": "<script>x</script>"}},
    )
    registry.repos.set_visibility("alice/xss", "public")
    html = await (await client.get("/", params={"q": "<b>"})).text()
    assert "<b>" not in html.split("</header>")[1] or "&lt;b&gt;" in html
    html = await (await client.get("/r/alice/xss")).text()
    assert "<script>x</script>" not in html and "&lt;script&gt;" in html
