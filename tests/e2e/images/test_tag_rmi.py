"""``docker tag`` and ``docker rmi``: names in every spelling, Docker's records and errors."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Daemon

pytestmark = [pytest.mark.root, pytest.mark.docker_cli]


def test_tag_then_rmi(berthd: Daemon, imported: str) -> None:
    berthd.docker("tag", "busybox", "localhost:5000/a/b:v2", check=True)
    berthd.docker("tag", imported.split(":")[1][:12], "docker.io/library/copy", check=True)
    tags = sorted(berthd.docker("images", "--format", "{{.Repository}}:{{.Tag}}", check=True).stdout.split())
    assert tags == ["busybox:latest", "copy:latest", "localhost:5000/a/b:v2"]
    assert (
        berthd.docker("rmi", "localhost:5000/a/b:v2", check=True).stdout.strip()
        == "Untagged: localhost:5000/a/b:v2"
    )
    out = berthd.docker("rmi", "copy", "busybox", check=True).stdout.splitlines()
    assert out[:2] == ["Untagged: copy:latest", "Untagged: busybox:latest"]
    assert f"Deleted: {imported}" in out
    assert berthd.docker("images", "-q", check=True).stdout.strip() == ""


def test_rmi_missing_image(berthd: Daemon) -> None:
    result = berthd.docker("rmi", "nothere")
    assert result.returncode == 1
    assert result.stderr.strip() == "Error response from daemon: No such image: nothere:latest"


def test_rmi_refuses_image_used_by_a_container(berthd: Daemon, imported: str) -> None:
    created = berthd.docker("create", "busybox", "true")
    if created.returncode != 0:
        pytest.skip(f"container create is not wired yet: {created.stderr.strip()}")
    container = created.stdout.strip()
    result = berthd.docker("rmi", "busybox")
    assert result.returncode == 1
    assert "(must force) - container " + container[:12] + " is using its referenced image" in result.stderr
    forced = berthd.docker("rmi", "-f", "busybox", check=True)
    assert "Untagged: busybox:latest" in forced.stdout
    berthd.docker("rm", "-f", container)
