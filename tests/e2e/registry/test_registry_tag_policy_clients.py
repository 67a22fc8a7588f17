"""Tag policies against a real ``berth-registry serve``: immutable tags refused to ``docker push``
(through berthd) and to skopeo's delete with the pattern in the message, and retention's
``gc --dry-run`` against the real ``gc``."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
from registry_e2e_helpers import RunningRegistry, basic, push_image, skopeo
from tests.e2e.conftest import Daemon

ALICE = basic("alice", "alicepw")


def _cli(running: RunningRegistry, *args: str) -> str:
    result = running.cli(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _tags(running: RunningRegistry, repo: str) -> list[str]:
    status, _, body = running.request("GET", f"/v2/{repo}/tags/list", headers=ALICE)
    assert status == 200, body
    return sorted(json.loads(body)["tags"] or [])


@pytest.mark.root
@pytest.mark.docker_cli
def test_an_immutable_tag_refuses_docker_push_of_another_image_and_deletes(
    berthd: Daemon, busybox_image: str, running: RunningRegistry, tmp_path: Path
) -> None:
    _cli(running, "retention", "set", "alice/*", "--immutable", "v*")
    release, other = f"{running.host}/alice/box:v1", f"{running.host}/alice/box:dev"
    berthd.docker("login", "-u", "alice", "--password-stdin", running.host, input=b"alicepw\n", check=True)
    berthd.docker("tag", busybox_image, release, check=True)
    berthd.docker("push", release, check=True)
    berthd.docker("push", release, check=True)  # the same image again: allowed
    (tmp_path / "hello.txt").write_text("another image\n")
    with tarfile.open(tmp_path / "other.tar", "w") as tar:
        tar.add(tmp_path / "hello.txt", "hello.txt")
    berthd.berth("import", str(tmp_path / "other.tar"), other, check=True)
    berthd.docker("push", other, check=True)  # dev matches no pattern
    berthd.docker("tag", other, release, check=True)

    pushed = berthd.docker("push", release)
    assert pushed.returncode != 0
    assert (
        "denied: tag v1 of alice/box is immutable (pattern 'v*' of the policy of alice/*)" in pushed.stderr
    ), pushed.stderr
    deleted = skopeo("delete", "--tls-verify=false", "--creds", "alice:alicepw", f"docker://{release}")
    assert deleted.returncode != 0 and "tag v1 of alice/box is immutable" in deleted.stderr, deleted.stderr
    status, _, body = running.request("DELETE", "/v2/alice/box/manifests/v1", headers=ALICE)
    assert status == 403 and json.loads(body)["errors"][0]["code"] == "DENIED"
    assert _tags(running, "alice/box") == ["dev", "v1"]

    _cli(running, "retention", "rm", "alice/*")
    berthd.docker("push", release, check=True)  # no policy: v1 moves


def test_retention_dry_run_lists_what_gc_then_removes(running: RunningRegistry) -> None:
    for tag in ("release-1", "build-1", "build-2", "build-3", "build-4"):
        push_image(running, "alice/app", tag, f"layer of {tag}".encode() * 5000, ALICE)
    _cli(running, "retention", "set", "alice/app", "--keep-last", "2", "--keep", "release-*")
    shown = _cli(running, "retention", "show").splitlines()
    assert [line.split() for line in shown] == [
        ["TARGET", "KEEP-LAST", "PULLED-WITHIN", "KEEP", "IMMUTABLE"],
        ["alice/app", "2", "-", "release-*", "-"],
    ]
    used_before = json.loads(_cli(running, "quota", "show", "alice", "--format", "json"))[0]["used"]

    dry = _cli(running, "gc", "--dry-run", "--grace", "0")
    assert "would remove tag alice/app:build-1 (" in dry and "would remove tag alice/app:build-2 (" in dry
    assert "build-3" not in dry and "release-1" not in dry
    assert "would remove 2 tags, 4 blobs, 2 manifests" in dry, dry  # two manifests, two layers
    assert len(_tags(running, "alice/app")) == 5

    real = _cli(running, "gc", "--grace", "0")
    assert "removed tag alice/app:build-1 (" in real and "removed 2 tags, 4 blobs, 2 manifests" in real, real
    assert _tags(running, "alice/app") == ["build-3", "build-4", "release-1"]
    used_after = json.loads(_cli(running, "quota", "show", "alice", "--format", "json"))[0]["used"]
    assert used_after < used_before - 2 * 5000 * len("layer of build-1")
    status, _, _ = running.request("GET", "/v2/alice/app/manifests/build-3", headers=ALICE)
    assert status == 200
