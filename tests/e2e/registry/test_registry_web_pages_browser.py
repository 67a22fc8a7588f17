"""The repository page, the organisation page, deletes, the README form and webhooks in real headless Chromium (Debian's
``chromium`` driven by playwright), against a real ``berth-registry serve`` that skopeo pushed an
image and a two-platform index to, with an SBOM and a signature attached as OCI referrers.

Screenshots go to ``$BERTH_TEST_ARTIFACTS`` if set (``docs/screenshots`` keeps the reviewed ones),
else to the test's tmp_path; their paths are printed.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import io
import json
import os
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pytest
from registry_e2e_helpers import RunningRegistry, basic, make_oci_layout, push_image, sha, skopeo
from webhook_receiver import Receiver

from berth.testing.registry import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() or shutil.which("skopeo") is None,
    reason="needs Debian chromium and skopeo (apt install chromium skopeo)",
)
ALICE = basic("alice", "alicepw")
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"


def _index_layout(directory: Path, tag: str) -> None:
    """An OCI layout whose ``tag`` is an index of a linux/amd64 and a linux/arm64/v8 image."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def put(data: bytes) -> dict[str, Any]:
        (blobs / hashlib.sha256(data).hexdigest()).write_bytes(data)
        return {"digest": sha(data), "size": len(data)}

    children = []
    for arch, variant in (("amd64", ""), ("arm64", "v8")):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as tar:
            content = f"built for {arch}\n".encode() * 200
            info = tarfile.TarInfo(f"etc/{arch}")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        layer = gzip.compress(raw.getvalue(), mtime=0)
        platform = {"os": "linux", "architecture": arch, **({"variant": variant} if variant else {})}
        config = json.dumps(
            {
                **platform,
                "created": "2026-05-06T07:08:09Z",
                "rootfs": {"type": "layers", "diff_ids": [sha(raw.getvalue())]},
            }
        ).encode()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **put(config)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **put(layer)}],
            }
        ).encode()
        children.append({"mediaType": MANIFEST, **put(manifest), "platform": platform})
    index = json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": children}).encode()
    top = {"mediaType": INDEX, **put(index), "annotations": {"org.opencontainers.image.ref.name": tag}}
    (directory / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top]}))
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')


def _skopeo_push(running: RunningRegistry, layout: Path, tag: str, ref: str) -> None:
    result = skopeo(
        "copy", "--all", "--dest-tls-verify=false", "--dest-creds", "alice:alicepw",
        f"oci:{layout}:{tag}", f"docker://{running.host}/{ref}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def _attach(running: RunningRegistry, repo: str, subject: str, artifact_type: str, payload: bytes) -> str:
    """Push an OCI artifact whose ``subject`` is ``subject`` (what ``oras attach`` sends); its digest."""
    _, headers, _ = running.request(
        "GET", f"/v2/{repo}/manifests/{subject}", headers={**ALICE, "Accept": f"{MANIFEST},{INDEX}"}
    )
    subject_desc = {
        "mediaType": headers["Content-Type"],
        "digest": subject,
        "size": int(headers["Content-Length"]),
    }
    for blob in (b"{}", payload):
        status, up, _ = running.request("POST", f"/v2/{repo}/blobs/uploads/", headers=ALICE)
        assert status == 202
        status, _, body = running.request(
            "PUT", f"{up['Location']}?digest={sha(blob)}", data=blob, headers=ALICE
        )
        assert status == 201, body
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "artifactType": artifact_type,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha(b"{}"), "size": 2},
            "layers": [{"mediaType": artifact_type, "digest": sha(payload), "size": len(payload)}],
            "subject": subject_desc,
        }
    ).encode()
    status, _, body = running.request(
        "PUT",
        f"/v2/{repo}/manifests/{sha(manifest)}",
        data=manifest,
        headers={**ALICE, "Content-Type": MANIFEST},
    )
    assert status == 201, body
    return sha(manifest)


def _tags(running: RunningRegistry, repo: str) -> list[str]:
    status, _, body = running.request("GET", f"/v2/{repo}/tags/list", headers=ALICE)
    assert status == 200
    return list(json.loads(body)["tags"])


def _sign_in(page: Any, running: RunningRegistry, user: str) -> None:
    """Sign in with the page's form (the test accounts' passwords are NAMEpw)."""
    page.goto(running.url + "/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", f"{user}pw")
    page.click("button[type=submit]")
    page.wait_for_url(running.url + "/")


def _order(page: Any) -> list[str]:
    return [
        str(name)
        for name in page.eval_on_selector_all("table.tags tr.tag td.name", "els => els.map(e => e.innerText)")
    ]


def test_repository_and_organisation_pages_and_deletes(running: RunningRegistry, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    for args in (
        ("org", "add", "acme", "--owner", "alice"),
        ("team", "add", "acme", "devs"),
        ("team", "members", "acme", "devs", "add", "bob"),
        ("team", "grant", "acme", "devs", "acme/web", "push"),
        ("quota", "set", "acme", "50MB"),
    ):
        result = running.cli(*args)
        assert result.returncode == 0, result.stderr
    simple = tmp_path / "simple"
    image = make_oci_layout(
        simple, "1.0", files={"etc/motd": os.urandom(4000)}, description="The acme web app"
    )
    _skopeo_push(running, simple, "1.0", "acme/web:1.0")
    multi = tmp_path / "multi"
    _index_layout(multi, "multi")
    _skopeo_push(running, multi, "multi", "acme/web:multi")
    push_image(running, "acme/web", "1.1", os.urandom(20000), ALICE)
    push_image(running, "acme/web", "dev", os.urandom(500), ALICE)
    _, headers, _ = running.request(
        "HEAD", "/v2/acme/web/manifests/multi", headers={**ALICE, "Accept": INDEX}
    )
    index_digest = headers["Docker-Content-Digest"]
    sbom = _attach(running, "acme/web", index_digest, "application/spdx+json", b'{"spdxVersion":"SPDX-2.3"}')
    signature = _attach(running, "acme/web", image, "application/vnd.dev.cosign.artifact.sig.v1+json", b"sig")
    for _ in range(3):
        assert running.request("GET", "/v2/acme/web/manifests/1.1", headers=ALICE)[0] == 200
    assert running.cli("repo", "visibility", "acme/web", "public").returncode == 0
    artifacts = Path(os.environ.get("BERTH_TEST_ARTIFACTS", str(tmp_path)))
    artifacts.mkdir(parents=True, exist_ok=True)

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(running.url + "/r/acme/web")
            assert page.inner_text(".pull") == f"docker pull {running.host}/acme/web:dev"
            assert page.inner_text(".description") == "The acme web app"
            assert _order(page) == ["dev", "1.1", "multi", "1.0"]  # newest push first
            page.click("a.sort-size")
            assert _order(page)[:2] == ["1.1", "1.0"] and "sort=size" in page.url
            page.click("a.sort-name")
            assert _order(page) == ["1.0", "1.1", "dev", "multi"]
            page.click("a.sort-name")  # again: the other way
            assert _order(page) == ["multi", "dev", "1.1", "1.0"]
            page.click("a.sort-pulled")
            assert _order(page)[0] == "1.1" and "3 pulls" in page.inner_text("#tag-1\\.1 .pulled")
            page.fill("form.filter input[name=q]", "1.")
            page.click("form.filter button")
            assert "q=1." in page.url and sorted(_order(page)) == ["1.0", "1.1"]
            assert "2 of 2 matching tags shown" in page.inner_text(".count")

            page.goto(running.url + "/r/acme/web")
            row = "#tag-1\\.0"
            assert page.get_attribute(f"{row} code.digest", "title") == image
            assert "2026-01-02 03:04:05 UTC" in page.inner_text(row) and "linux/amd64" in page.inner_text(row)
            page.click(f"{row} details.layers summary")
            assert "oci.image.layer.v1.tar+gzip" in page.inner_text(f"{row} details.layers")
            assert "cosign.artifact.sig" in page.inner_text(f"{row} details.referrers")
            assert signature[:19] in page.inner_text(f"{row} details.referrers")
            multi_row = "#tag-multi"
            page.click(f"{multi_row} details.platforms summary")
            platforms = page.inner_text(f"{multi_row} details.platforms")
            assert "linux/amd64" in platforms and "linux/arm64/v8" in platforms
            referrers = page.inner_text(f"{multi_row} details.referrers")
            assert "application/spdx+json" in referrers and sbom[:19] in referrers
            assert page.query_selector("a.delete-tag") is None  # anonymous: no delete buttons

            _sign_in(page, running, "alice")
            page.goto(running.url + "/r/acme/web")
            page.click("#tag-1\\.0 details.layers summary")
            page.click("#tag-multi details.platforms summary")
            shot = artifacts / "registry-repository.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}")

            page.goto(running.url + "/o/acme")
            assert "acme/web" in page.inner_text("main") and "owner alice" in page.inner_text("main")
            assert "acme/web: push" in page.inner_text("#team-devs") and "bob" in page.inner_text(
                "#team-devs"
            )
            shot = artifacts / "registry-organisation.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}")

            page.goto(running.url + "/r/acme/web")
            page.click("#tag-dev a.delete-tag")
            page.wait_for_url("**/delete/acme/web?reference=dev")
            assert "You are about to delete the tag dev" in page.inner_text(".confirm")
            assert "next garbage collection" in page.inner_text(".confirm")
            shot = artifacts / "registry-delete-confirm.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}")
            page.click("button.confirm-delete")
            page.wait_for_url("**/r/acme/web?deleted=dev")
            assert "Deleted tag dev" in page.inner_text(".deleted")
            assert page.query_selector("#tag-dev") is None and "dev" not in _tags(running, "acme/web")

            context = browser.new_context()  # its own cookies: bob's session, not alice's
            bob = context.new_page()
            _sign_in(bob, running, "bob")
            bob.goto(running.url + "/r/acme/web")
            assert bob.query_selector("a.delete-tag") is None  # push through a team, not delete
            response = bob.goto(running.url + "/delete/acme/web?reference=1.1")
            assert response is not None and response.status == 403
            assert "only its owners may" in bob.inner_text(".refused")
            assert "1.1" in _tags(running, "acme/web")
        finally:
            browser.close()


README = """# acme/web

The web front end of **acme**, served by nginx.

## Run it

    docker run -p 8080:80 acme/web:1.0

| tag | what |
| --- | --- |
| 1.0 | the release |
| dev | every commit to main |

<script>document.title = "owned"</script>
"""


def test_owner_sets_the_readme_and_a_webhook_in_the_browser(running: RunningRegistry, tmp_path: Path) -> None:
    """An owner edits the description and README and adds a webhook with the page's forms; a push then
    reaches a real receiver on loopback, signed, and the page's delivery log shows it."""
    sync_api = pytest.importorskip("playwright.sync_api")
    assert running.cli("org", "add", "acme", "--owner", "alice").returncode == 0
    push_image(running, "acme/web", "1.0", os.urandom(3000), ALICE)
    assert running.cli("repo", "visibility", "acme/web", "public").returncode == 0
    artifacts = Path(os.environ.get("BERTH_TEST_ARTIFACTS", str(tmp_path)))
    artifacts.mkdir(parents=True, exist_ok=True)
    receiver = Receiver(free_port()).start()
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            try:
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                _sign_in(page, running, "alice")
                page.goto(running.url + "/r/acme/web")
                page.click("a.edit")
                page.wait_for_url("**/edit/acme/web")
                page.fill("input[name=description]", "The acme web front end")
                page.fill("textarea[name=readme]", README)
                shot = artifacts / "registry-edit.png"
                page.screenshot(path=str(shot), full_page=True)
                print(f"screenshot: {shot}")
                page.click("button.save")
                page.wait_for_url("**/r/acme/web?saved=1")
                assert "Saved the description and README" in page.inner_text(".saved")
                assert page.inner_text(".description") == "The acme web front end"
                assert page.inner_text(".readme h1") == "acme/web"
                assert "docker run -p 8080:80 acme/web:1.0" in page.inner_text(".readme pre")
                assert page.inner_text(".readme table tr:nth-child(2) td:first-child") == "dev"
                assert page.title() != "owned" and "<script>" in page.inner_text(".readme")  # shown as text

                page.fill("form.add-hook input[name=url]", receiver.url)
                page.fill("form.add-hook input[name=secret]", "s3cret")
                page.check("form.add-hook input[value=pull]")
                page.click("form.add-hook button[type=submit]")
                page.wait_for_url("**/r/acme/web#webhooks")
                assert "push,delete,pull of acme/web" in page.inner_text("div.hook")
                assert "s3cret" not in page.content()

                push_image(running, "acme/web", "1.1", os.urandom(2000), ALICE)
                (delivery,) = receiver.wait_for(1)
                signature = hmac.new(b"s3cret", delivery.body, hashlib.sha256).hexdigest()
                assert delivery.headers["X-Berth-Signature-256"] == f"sha256={signature}"
                event = json.loads(delivery.body)["events"][0]
                assert event["action"] == "push" and event["target"]["tag"] == "1.1"
                for _ in range(100):  # the log row is written just after the receiver answers
                    page.goto(running.url + "/r/acme/web")
                    if page.query_selector("div.hook table") is not None:
                        break
                    page.wait_for_timeout(50)
                assert "push" in page.inner_text("div.hook table") and "200" in page.inner_text(
                    "div.hook table"
                )
                page.click("#tag-1\\.1 details.layers summary")
                shot = artifacts / "registry-repository-readme.png"
                page.screenshot(path=str(shot), full_page=True)
                print(f"screenshot: {shot}")

                page.click("button.remove-hook")
                page.wait_for_url("**/r/acme/web#webhooks")
                assert page.query_selector("div.hook") is None and "No webhooks yet" in page.inner_text(
                    "main"
                )
            finally:
                browser.close()
    finally:
        receiver.stop()
