"""The image API through docker-py (the SDK many tools use)."""

from __future__ import annotations

from pathlib import Path

import docker
import pytest

from tests.e2e.conftest import Daemon

pytestmark = pytest.mark.root


def test_docker_py_images(berthd: Daemon, imported: str, tmp_path: Path) -> None:
    client = docker.DockerClient(base_url=berthd.host, version="auto")
    try:
        image = client.images.get("busybox")
        assert image.id == imported and image.tags == ["busybox:latest"]
        assert [i.id for i in client.images.list()] == [imported]
        assert image.tag("localhost:5000/x/y", "z")
        assert "localhost:5000/x/y:z" in client.images.get(imported).tags
        archive = tmp_path / "img.tar"
        with archive.open("wb") as f:
            for chunk in image.save(named=True):
                f.write(chunk)
        client.images.remove("localhost:5000/x/y:z")
        client.images.remove("busybox")
        assert client.images.list() == []
        loaded = client.images.load(archive.read_bytes())
        assert [i.id for i in loaded] == [imported]
        history = client.images.get(imported).history()
        assert history[0]["Id"] == imported
        with pytest.raises(docker.errors.ImageNotFound):
            client.images.get("nothere")
    finally:
        client.close()
