"""Namespace quotas against a real ``berth-registry serve``: the docker CLI (through berthd) and skopeo
show the refusal with the namespace's usage and quota, concurrent pushes cannot pass it together, and
usage goes down after a delete and ``gc``."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from registry_e2e_helpers import RunningRegistry, basic, make_oci_layout, sha, skopeo
from tests.e2e.conftest import Daemon

ALICE = basic("alice", "alicepw")


def _usage(running: RunningRegistry, name: str) -> tuple[int, int | None]:
    shown = running.cli("quota", "show", name, "--format", "json")
    assert shown.returncode == 0, shown.stderr
    [row] = json.loads(shown.stdout)
    return int(row["used"]), row["quota"]


def _set(running: RunningRegistry, name: str, size: str) -> None:
    result = running.cli("quota", "set", name, size)
    assert result.returncode == 0, result.stderr


@pytest.mark.root
@pytest.mark.docker_cli
def test_docker_push_and_skopeo_over_quota_show_usage_and_quota_and_gc_frees_it(
    berthd: Daemon, busybox_image: str, running: RunningRegistry, tmp_path: Path
) -> None:
    _set(running, "alice", "100kB")
    image = f"{running.host}/alice/box:1"
    berthd.docker("login", "-u", "alice", "--password-stdin", running.host, input=b"alicepw\n", check=True)
    berthd.docker("tag", busybox_image, image, check=True)
    pushed = berthd.docker("push", image)
    assert pushed.returncode != 0
    assert (
        "denied: quota exceeded for namespace alice: " in pushed.stderr and "used of 100 kB" in pushed.stderr
    ), pushed.stderr
    used, quota = _usage(running, "alice")
    assert quota == 100_000 and used <= quota

    layout = tmp_path / "layout"
    make_oci_layout(layout, "v1", files={"big.bin": os.urandom(200_000)})
    copied = skopeo(
        "copy", "--dest-tls-verify=false", "--dest-creds", "alice:alicepw",
        f"oci:{layout}:v1", f"docker://{running.host}/alice/files:v1",
    )  # fmt: skip
    assert copied.returncode != 0 and "quota exceeded for namespace alice" in copied.stderr, copied.stderr
    table = running.cli("quota", "show").stdout.splitlines()
    assert table[0].split() == ["NAMESPACE", "USED", "QUOTA", "%"] and table[1].split()[0] == "alice"

    _set(running, "alice", "none")
    berthd.docker("push", image, check=True)
    full, quota = _usage(running, "alice")
    assert quota is None and full > 500_000  # busybox's layer
    status, headers, _ = running.request(
        "HEAD", "/v2/alice/box/manifests/1", headers={**ALICE, "Accept": "*/*"}
    )
    assert status == 200
    status, _, body = running.request(
        "DELETE", f"/v2/alice/box/manifests/{headers['Docker-Content-Digest']}", headers=ALICE
    )
    assert status == 202, body
    collected = running.cli("gc", "--grace", "0")
    assert collected.returncode == 0, collected.stderr
    assert _usage(running, "alice")[0] == 0


def test_concurrent_pushes_cannot_pass_the_quota_together(running: RunningRegistry) -> None:
    _set(running, "alice", "1MB")
    blobs = [os.urandom(300_000) for _ in range(8)]

    def push(i: int) -> int:
        status, headers, _ = running.request("POST", f"/v2/alice/r{i}/blobs/uploads/", headers=ALICE)
        assert status == 202
        status, _, _ = running.request(
            "PUT", f"{headers['Location']}?digest={sha(blobs[i])}", data=blobs[i], headers=ALICE
        )
        return status

    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(push, range(8)))
    assert statuses == [201] * 3 + [403] * 5
    assert _usage(running, "alice") == (900_000, 1_000_000)
