"""berth-registry with its root on a 64 MB tmpfs made by the test: a push that does not fit is answered
507 Insufficient Storage with ``no space left on device`` (the docker CLI, through berthd, shows it in
one line), the upload's bytes are dropped (the disk is free again, nothing half-there is visible,
``berth-registry check`` is clean), what was already there still pulls, and the same push succeeds
once the filesystem is grown."""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from registry_e2e_helpers import basic, sha
from tests.e2e.conftest import Daemon

from berth.runtime.linux import syscalls
from berth.testing.registry import RegistryProcess, start_berth_registry

pytestmark = [pytest.mark.root, pytest.mark.docker_cli]

_MB = 1 << 20
ALICE = basic("alice", "pw")


@pytest.fixture
def full_registry(tmp_path: Path) -> Iterator[RegistryProcess]:
    root = tmp_path / "registry"
    root.mkdir()
    syscalls.mount("tmpfs", str(root), "tmpfs", 0, "size=64m,mode=0755")
    try:
        registry = start_berth_registry(root, admins={"alice": "pw"})
        try:
            yield registry
        finally:
            registry.stop()
    finally:
        syscalls.umount2(str(root), syscalls.MNT_DETACH)


def _nothing_half_there(registry: RegistryProcess) -> None:
    checked = registry.cli("check")
    assert checked.returncode == 0 and checked.stdout == "no problems found\n", checked.stdout
    assert not list((registry.root / "storage").glob("uploads/*")), "an upload's bytes were kept"
    assert shutil.disk_usage(registry.root).used < 8 * _MB  # what the refused push wrote is free again
    status, _, _ = registry.request("GET", "/v2/alice/big/manifests/1", headers=ALICE)
    assert status == 404


def test_a_push_that_does_not_fit_is_refused_in_one_line_and_works_once_the_disk_grows(
    berthd: Daemon, busybox_image: str, full_registry: RegistryProcess, tmp_path: Path
) -> None:
    registry = full_registry
    small, big = f"{registry.host}/alice/small:1", f"{registry.host}/alice/big:1"
    payload = tmp_path / "payload.bin"
    payload.write_bytes(os.urandom(80 * _MB))
    with tarfile.open(tmp_path / "big.tar", "w") as tar:
        tar.add(payload, "payload.bin")
    berthd.berth("import", str(tmp_path / "big.tar"), big, check=True)
    berthd.docker("login", "-u", "alice", "--password-stdin", registry.host, input=b"pw\n", check=True)
    berthd.docker("tag", busybox_image, small, check=True)
    berthd.docker("push", small, check=True)

    pushed = berthd.docker("push", big)
    lines = pushed.stderr.strip().splitlines()
    assert pushed.returncode != 0 and len(lines) == 1, pushed.stderr
    assert "507" in lines[0] and "no space left on device" in lines[0], lines
    _nothing_half_there(registry)

    # The answer itself: 507, the OCI error envelope, the reason in its message.
    data = payload.read_bytes()
    status, headers, _ = registry.request("POST", "/v2/alice/big/blobs/uploads/", headers=ALICE)
    assert status == 202
    status, _, body = registry.request(
        "PUT", f"{headers['Location']}?digest={sha(data)}", data=data, headers=ALICE
    )
    errors = json.loads(body)["errors"]
    assert status == 507 and errors[0]["code"] == "UNKNOWN", (status, body)
    assert errors[0]["message"].endswith("no space left on device"), errors
    _nothing_half_there(registry)

    berthd.docker("rmi", small, check=True)  # what was there before still pulls
    berthd.docker("pull", small, check=True)

    syscalls.mount("tmpfs", str(registry.root), "tmpfs", syscalls.MS_REMOUNT, "size=256m")
    berthd.docker("push", big, check=True)
    checked = registry.cli("check")
    assert checked.returncode == 0 and checked.stdout == "no problems found\n", checked.stdout
    accept = {**ALICE, "Accept": "application/vnd.oci.image.manifest.v1+json"}
    status, _, _ = registry.request("GET", "/v2/alice/big/manifests/1", headers=accept)
    assert status == 200
