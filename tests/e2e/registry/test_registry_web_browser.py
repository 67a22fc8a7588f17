"""The web page in real headless Chromium (Debian's ``chromium`` driven by playwright from PyPI).

The screenshots are kept: in ``$BERTH_TEST_ARTIFACTS`` if set, else in the test's tmp_path (pytest
keeps the last runs' tmp dirs); their paths are printed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from registry_e2e_helpers import RunningRegistry, basic, push_image

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="needs Debian chromium (apt install chromium)"
)
ALICE = basic("alice", "alicepw")


def _push(running: RunningRegistry, repo: str, tag: str, layer: bytes) -> str:
    description = {"org.opencontainers.image.description": f"The {repo} image"}
    return push_image(running, repo, tag, layer, ALICE, description)


def test_browse_search_and_sign_in(running: RunningRegistry, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    digest = _push(running, "alice/webapp", "1.0", os.urandom(3000))
    _push(running, "alice/private-tool", "latest", b"private layer")
    assert running.cli("repo", "visibility", "alice/webapp", "public").returncode == 0
    artifacts = Path(os.environ.get("BERTH_TEST_ARTIFACTS", str(tmp_path)))
    artifacts.mkdir(parents=True, exist_ok=True)

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(running.url + "/")
            assert "alice/webapp" in page.content()
            assert "alice/private-tool" not in page.content()
            page.fill("input[name=q]", "webapp")
            page.click("button[type=submit]")
            page.wait_for_url("**/?q=webapp")
            page.click("text=alice/webapp")
            page.wait_for_url("**/r/alice/webapp")
            pull = page.inner_text(".pull")
            assert pull == f"docker pull {running.host}/alice/webapp:1.0"
            row = page.inner_text("#tag-1\\.0")
            assert (
                "1.0" in row and "3.1 KB" in row and "2026-03-04 05:06:07 UTC" in row and "linux/amd64" in row
            )
            assert page.get_attribute("#tag-1\\.0 code", "title") == digest
            page.click("#tag-1\\.0 summary")
            assert "oci.image.layer.v1.tar+gzip" in page.inner_text("#tag-1\\.0 details")
            shot = artifacts / "registry-web-repository.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}")

            page.goto(running.url + "/r/alice/private-tool")
            assert "Not found" in page.content()
            page.goto(running.url + "/login")
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", "alicepw")
            page.click("button[type=submit]")
            page.wait_for_url(running.url + "/")
            assert "Signed in as" in page.inner_text("header")
            assert "alice/private-tool" in page.content()
            shot = artifacts / "registry-web-signed-in.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}")
        finally:
            browser.close()
