"""skopeo pushes, inspects, lists, pulls and deletes against a real berth-registry with token auth."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from registry_e2e_helpers import RunningRegistry, make_oci_layout, skopeo

pytestmark = pytest.mark.skipif(shutil.which("skopeo") is None, reason="needs skopeo (apt install skopeo)")


def _push(running: RunningRegistry, layout: Path, ref: str, creds: str, *extra: str) -> None:
    result = skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        creds,
        *extra,
        f"oci:{layout}:v1",
        f"docker://{running.host}/{ref}",
    )
    assert result.returncode == 0, result.stderr


def test_push_inspect_pull_list_delete(running: RunningRegistry, tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    make_oci_layout(layout, "v1", files={"hello.txt": b"hello from berth\n"})
    _push(running, layout, "alice/hello:v1", "alice:alicepw")
    _push(running, layout, "alice/hello:v2", "alice:alicepw")

    result = skopeo(
        "inspect", "--tls-verify=false", "--creds", "alice:alicepw", f"docker://{running.host}/alice/hello:v1"
    )
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["Architecture"] == "amd64" and len(info["Layers"]) == 1

    result = skopeo(
        "list-tags", "--tls-verify=false", "--creds", "alice:alicepw", f"docker://{running.host}/alice/hello"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["Tags"] == ["v1", "v2"]

    out = tmp_path / "pulled"
    result = skopeo(
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        "alice:alicepw",
        f"docker://{running.host}/alice/hello:v1",
        f"oci:{out}:v1",
    )
    assert result.returncode == 0, result.stderr
    pulled = {p.name for p in (out / "blobs" / "sha256").iterdir()}
    assert {p.name for p in (layout / "blobs" / "sha256").iterdir()} <= pulled

    result = skopeo(
        "delete", "--tls-verify=false", "--creds", "alice:alicepw", f"docker://{running.host}/alice/hello:v2"
    )
    assert result.returncode == 0, result.stderr
    result = skopeo(
        "inspect", "--tls-verify=false", "--creds", "alice:alicepw", f"docker://{running.host}/alice/hello:v2"
    )
    assert result.returncode != 0


def test_docker_schema2_push(running: RunningRegistry, tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    make_oci_layout(layout, "v1", files={"a": b"a"})
    _push(running, layout, "alice/v2s2:v1", "alice:alicepw", "--format", "v2s2")
    status, headers, _ = running.request(
        "GET",
        "/v2/alice/v2s2/manifests/v1",
        headers={
            "Accept": "application/vnd.docker.distribution.manifest.v2+json",
            "Authorization": "Basic YWxpY2U6YWxpY2Vwdw==",
        },
    )
    assert status == 200
    assert headers["Content-Type"] == "application/vnd.docker.distribution.manifest.v2+json"


def test_private_is_invisible_until_public(running: RunningRegistry, tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    make_oci_layout(layout, "v1", files={"secret": b"s"})
    _push(running, layout, "alice/secret:v1", "alice:alicepw")
    ref = f"docker://{running.host}/alice/secret:v1"
    anonymous = skopeo("inspect", "--tls-verify=false", "--no-creds", ref)
    assert anonymous.returncode != 0
    other = skopeo("inspect", "--tls-verify=false", "--creds", "bob:bobpw", ref)
    assert other.returncode != 0
    assert "unknown" in other.stderr.lower() or "not found" in other.stderr.lower()
    denied = skopeo("copy", "--dest-tls-verify=false", "--dest-creds", "bob:bobpw", f"oci:{layout}:v1", ref)
    assert denied.returncode != 0

    result = running.cli("repo", "visibility", "alice/secret", "public")
    assert result.returncode == 0, result.stderr
    anonymous = skopeo("inspect", "--tls-verify=false", "--no-creds", ref)
    assert anonymous.returncode == 0, anonymous.stderr


def test_org_team_push_with_skopeo(running: RunningRegistry, tmp_path: Path) -> None:
    for args in (
        ("org", "add", "acme", "--owner", "alice"),
        ("team", "add", "acme", "devs"),
        ("team", "members", "acme", "devs", "add", "bob"),
        ("team", "grant", "acme", "devs", "web", "push"),
    ):
        result = running.cli(*args)
        assert result.returncode == 0, result.stderr
    layout = tmp_path / "layout"
    make_oci_layout(layout, "v1", files={"index.html": b"<h1>hi</h1>"})
    _push(running, layout, "acme/web:v1", "bob:bobpw")
    result = skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        "bob:bobpw",
        f"oci:{layout}:v1",
        f"docker://{running.host}/acme/api:v1",
    )
    assert result.returncode != 0
