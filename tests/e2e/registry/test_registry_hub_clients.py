"""The hub against a real ``berth-registry serve``: a description from a pushed image's label (skopeo),
pull counts after real pulls (python-dxf) that survive a restart, stars with users' tokens, the README
on the web page, and a version-1 database upgraded at start."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from registry_e2e_helpers import RunningRegistry, basic, make_oci_layout, skopeo, start_registry

from berth.registry.hub.pulls import FLUSH_SECONDS
from berth.registry.metadata import schema

DESC = "org.opencontainers.image.description"
API = "/api/v1/repositories"


def _push_with_label(running: RunningRegistry, tmp_path: Path, repo: str, label: str) -> str:
    layout = tmp_path / f"layout-{repo.replace('/', '-')}"
    digest = make_oci_layout(layout, "v1", files={"hello": repo.encode()}, labels={DESC: label})
    result = skopeo(
        "copy", "--dest-tls-verify=false", "--dest-creds", "alice:alicepw",
        f"oci:{layout}:v1", f"docker://{running.host}/{repo}:v1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return digest


def _token(running: RunningRegistry, user: str, password: str, repo: str) -> dict[str, str]:
    """A bearer token from the registry's token endpoint, as clients get them."""
    status, _, body = running.request(
        "GET", f"/token?service=berth-registry&scope=repository:{repo}:pull", headers=basic(user, password)
    )
    assert status == 200, body
    return {"Authorization": f"Bearer {json.loads(body)['token']}"}


def _api(running: RunningRegistry, method: str, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    status, _, body = running.request(method, API + path, headers=headers)
    return status, json.loads(body)


def _dxf(running: RunningRegistry, repo: str) -> Any:
    dxf_module = pytest.importorskip("dxf")

    def auth(dxf: Any, response: Any) -> None:
        dxf.authenticate("bob", "bobpw", response=response)

    return dxf_module.DXF(running.host, repo, auth, insecure=True)


def test_description_stars_and_pull_counts_with_real_clients(
    running: RunningRegistry, tmp_path: Path
) -> None:
    digest = _push_with_label(running, tmp_path, "alice/tools", "Handy tools from the label")
    assert running.cli("repo", "visibility", "alice/tools", "public").returncode == 0
    status, record = _api(running, "GET", "/alice/tools", {})
    assert status == 200 and record["description"] == "Handy tools from the label"
    assert record["tags"][0]["name"] == "v1" and record["tags"][0]["digest"] == digest
    assert record["last_pushed"] and record["pull_count"] == 0 and record["visibility"] == "public"

    client = _dxf(running, "alice/tools")
    for reference in ("v1", "v1", digest):
        client.get_manifest(reference)  # a GET of the manifest, as a pull starts
    status, record = _api(running, "GET", "/alice/tools", {})
    assert record["pull_count"] == 3 and record["tags"][0]["pull_count"] == 2 and record["last_pulled"]

    # stars with each user's own token
    bob, alice = (
        _token(running, "bob", "bobpw", "alice/tools"),
        _token(running, "alice", "alicepw", "alice/tools"),
    )
    assert _api(running, "PUT", "/alice/tools/star", bob) == (200, {"starred": True, "star_count": 1})
    assert _api(running, "PUT", "/alice/tools/star", alice)[1]["star_count"] == 2
    assert _api(running, "PUT", "/alice/tools/star", {})[0] == 401
    assert _api(running, "DELETE", "/alice/tools/star", alice) == (200, {"starred": False, "star_count": 1})
    status, _, body = running.request("GET", "/v1/search?q=tools")
    (result,) = json.loads(body)["results"]
    assert (result["name"], result["star_count"], result["pull_count"]) == ("alice/tools", 1, 3)
    assert result["description"] == "Handy tools from the label"

    # the counts reach the database within a flush period, and survive a restart
    time.sleep(FLUSH_SECONDS + 1.5)
    with sqlite3.connect(running.root / "registry.db") as conn:
        rows = dict(conn.execute("SELECT tag, count FROM pulls WHERE repo = 'alice/tools'").fetchall())
    assert rows == {"": 3, "v1": 2}
    client.get_manifest("v1")  # pending at the stop: written by the shutdown flush
    running.stop()
    again = start_registry(running.root)
    try:
        status, record = _api(again, "GET", "/alice/tools", {})
        assert (
            record["pull_count"] == 4 and record["tags"][0]["pull_count"] == 3 and record["star_count"] == 1
        )
    finally:
        again.stop()


def test_private_repositories_stay_invisible_to_the_api(running: RunningRegistry, tmp_path: Path) -> None:
    _push_with_label(running, tmp_path, "alice/secret", "secret")
    bob = _token(running, "bob", "bobpw", "alice/secret")
    hidden = _api(running, "GET", "/alice/secret", bob)
    missing = _api(running, "GET", "/alice/none", _token(running, "bob", "bobpw", "alice/none"))
    assert hidden[0] == missing[0] == 404
    assert hidden[1]["errors"][0]["code"] == missing[1]["errors"][0]["code"] == "NAME_UNKNOWN"
    assert _api(running, "PUT", "/alice/secret/star", bob)[0] == 404
    assert _api(running, "GET", "/alice/secret", basic("alice", "alicepw"))[0] == 200
    status, _, body = running.request("GET", "/v1/search?q=secret", headers=basic("bob", "bobpw"))
    assert json.loads(body)["results"] == []


def test_describe_cli_and_api_and_the_readme_on_the_page(running: RunningRegistry, tmp_path: Path) -> None:
    _push_with_label(running, tmp_path, "alice/tools", "from the label")
    assert running.cli("repo", "visibility", "alice/tools", "public").returncode == 0
    readme = tmp_path / "README.md"
    readme.write_text(
        "# Tools\n\n<script>alert('x')</script>\n\n[click](javascript:alert(1)) [docs](https://example.com/)\n"
    )
    result = running.cli("repo", "describe", "alice/tools", "Tools, set by hand", "--readme", str(readme))
    assert result.returncode == 0, result.stderr
    status, _, page = running.request("GET", "/r/alice/tools")
    html = page.decode()
    assert status == 200 and "<h1>Tools</h1>" in html and "Tools, set by hand" in html
    assert "<script" not in html and 'href="javascript' not in html
    assert "&lt;script&gt;" in html and '<a href="https://example.com/">docs</a>' in html

    # a push no longer changes a description set by hand
    _push_with_label(running, tmp_path, "alice/tools", "a later label")
    assert _api(running, "GET", "/alice/tools", {})[1]["description"] == "Tools, set by hand"
    # the API: owners may, others may not
    body = json.dumps({"description": "From the API"}).encode()
    headers = {"Content-Type": "application/json"}
    status, _, answer = running.request(
        "PUT", API + "/alice/tools", data=body, headers=headers | basic("bob", "bobpw")
    )
    assert status == 403 and json.loads(answer)["errors"][0]["code"] == "DENIED"
    alice = headers | basic("alice", "alicepw")
    status, _, answer = running.request("PUT", API + "/alice/tools", data=body, headers=alice)
    assert status == 200 and json.loads(answer)["description"] == "From the API"

    result = running.cli("repo", "describe", "alice/none", "x")
    assert (
        result.returncode == 1 and result.stderr.strip() == "berth-registry: repository alice/none not found"
    )
    result = running.cli("repo", "describe", "alice/tools", "x", "--readme", str(tmp_path / "absent.md"))
    assert result.returncode == 1 and "cannot read" in result.stderr
    assert _api(running, "GET", "/alice/tools", {})[1]["description"] == "From the API"  # nothing changed


def test_a_version_1_database_upgrades_at_start(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with sqlite3.connect(root / "registry.db") as conn:  # as a version-1 berth-registry left it
        conn.executescript(schema.BASE_SCHEMA)
        conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        conn.execute("INSERT INTO repositories VALUES ('alice/old', 'public', 'an old description', 1.0)")
        conn.execute("INSERT INTO tags VALUES ('alice/old', 'v1', 'sha256:' || hex(zeroblob(32)), 1.7e9)")
    running = start_registry(root, users={"alice": "alicepw"})
    try:
        status, record = _api(running, "GET", "/alice/old", {})
        assert status == 200 and record["description"] == "an old description"
        assert record["last_pushed"].startswith("2023-11-14T22:13:20") and record["star_count"] == 0
        token = _token(running, "alice", "alicepw", "alice/old")
        assert _api(running, "PUT", "/alice/old/star", token)[1]["star_count"] == 1
        with sqlite3.connect(root / "registry.db") as conn:
            (version,) = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        assert int(version) == schema.SCHEMA_VERSION
    finally:
        running.stop()
