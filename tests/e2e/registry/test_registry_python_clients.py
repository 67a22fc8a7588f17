"""oras-py and python-dxf push, pull, list tags and delete with token auth against berth-registry."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from registry_e2e_helpers import RunningRegistry, start_registry

from berth.testing.registry import self_signed


def test_oras_push_pull_tags_delete(
    running: RunningRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    oras_client = pytest.importorskip("oras.client")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    monkeypatch.setenv(
        "HOME", str(tmp_path)
    )  # oras-py's login writes ~/.docker/config.json, whatever DOCKER_CONFIG says
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon.sock")  # oras login tries docker-py first
    monkeypatch.chdir(tmp_path)
    (tmp_path / "artifact.txt").write_text("hello oras\n")
    host = running.host
    client = oras_client.OrasClient(hostname=host, insecure=True)
    client.login(username="alice", password="alicepw", hostname=host)
    response = client.push(files=["artifact.txt"], target=f"{host}/alice/artifact:v1")
    assert response.status_code == 201
    assert client.get_tags(f"{host}/alice/artifact") == ["v1"]
    out = tmp_path / "out"
    out.mkdir()
    pulled = client.pull(target=f"{host}/alice/artifact:v1", outdir=str(out))
    assert [Path(p).read_text() for p in pulled] == ["hello oras\n"]
    assert client.delete_tags(f"{host}/alice/artifact", tags=["v1"]) == ["v1"]
    assert client.get_tags(f"{host}/alice/artifact") == []


def test_python_dxf_over_https(tmp_path: Path) -> None:
    dxf_module = pytest.importorskip("dxf")
    cert, key = self_signed(tmp_path)
    config = tmp_path / "registry.yml"
    config.write_text(f"tls:\n  certificate: {cert}\n  key: {key}\n")
    running = start_registry(tmp_path / "root", users={"alice": "alicepw"}, config=config)
    try:

        def auth(dxf: object, response: object) -> None:
            dxf.authenticate("alice", "alicepw", response=response)  # type: ignore[attr-defined]

        client = dxf_module.DXF(running.host, "alice/dxf", auth, tlsverify=str(cert))
        blob = tmp_path / "blob"
        blob.write_bytes(os.urandom(100_000))
        digest = client.push_blob(str(blob))
        client.set_alias("v1", digest)
        assert client.list_aliases() == ["v1"]
        assert b"".join(client.pull_blob(digest)) == blob.read_bytes()
        assert client.get_alias("v1") == [digest]
        client.del_alias("v1")
        assert client.list_aliases() == []
        client.del_blob(digest)
        requests = pytest.importorskip("requests")
        with pytest.raises(requests.exceptions.HTTPError) as info:
            client.blob_size(digest)
        assert info.value.response.status_code == 404
    finally:
        running.stop()
