"""``docker images`` (filters, formats), ``docker image inspect``, ``docker history``, ``image prune``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import Daemon

from .conftest import busybox_rootfs

pytestmark = [pytest.mark.root, pytest.mark.docker_cli]


def test_inspect_and_history(berthd: Daemon, imported: str) -> None:
    [inspect] = json.loads(berthd.docker("image", "inspect", "busybox", check=True).stdout)
    assert inspect["Id"] == imported and inspect["RepoTags"] == ["busybox:latest"]
    assert inspect["Os"] == "linux" and inspect["RootFS"]["Type"] == "layers"
    assert len(inspect["RootFS"]["Layers"]) == 1 and inspect["Size"] > 1_000_000
    history = berthd.docker("history", "--format", "{{.ID}} {{.Comment}}", "busybox", check=True).stdout
    assert history.strip() == f"{imported.split(':')[1][:12]} Imported from -"
    missing = berthd.docker("image", "inspect", "nothere")
    assert missing.returncode == 1 and "No such image: nothere" in missing.stderr


def test_filters_and_prune(berthd: Daemon, imported: str, tmp_path: Path) -> None:
    other = busybox_rootfs(tmp_path / "other.tar", marker="other")
    berthd.docker("import", "--change", "LABEL tier=web", str(other), "busybox:latest", check=True)
    dangling = berthd.docker("images", "-q", "--filter", "dangling=true", check=True).stdout.split()
    assert dangling == [imported.split(":")[1][:12]]
    labelled = berthd.docker(
        "images", "--filter", "label=tier=web", "--format", "{{.Repository}}", check=True
    )
    assert labelled.stdout.split() == ["busybox"]
    pruned = berthd.docker("image", "prune", "-f", check=True).stdout
    assert f"deleted: {imported}" in pruned
    assert len(berthd.docker("images", "-q", check=True).stdout.split()) == 1
