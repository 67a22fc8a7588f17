"""berth-registry SIGKILLed during 50 concurrent pushes: after a restart every push it acknowledged
(the manifest PUT answered 201) pulls whole, no tag names a manifest or blob that is not all there,
``berth-registry check`` finds no problem, and the pushes that were cut short succeed when retried."""

from __future__ import annotations

import json
import os
import random
import threading
import time
from pathlib import Path

from registry_e2e_helpers import RunningRegistry, basic, sha

from berth.testing.registry import start_berth_registry

ALICE = basic("alice", "alicepw")
PUSHES = 50


def _push(registry: RunningRegistry, tag: str, layer: bytes) -> str | None:
    """One image (config, layer, manifest); its manifest digest once acknowledged, else None."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}, "tag": tag})
    try:
        descriptors = []
        for blob, media_type in ((config.encode(), "config.v1+json"), (layer, "layer.v1.tar")):
            status, headers, _ = registry.request("POST", "/v2/alice/crash/blobs/uploads/", headers=ALICE)
            if status != 202:
                return None
            status, _, _ = registry.request(
                "PUT", f"{headers['Location']}?digest={sha(blob)}", data=blob, headers=ALICE
            )
            if status != 201:
                return None
            descriptors.append(
                {
                    "mediaType": f"application/vnd.oci.image.{media_type}",
                    "digest": sha(blob),
                    "size": len(blob),
                }
            )
        manifest = json.dumps(
            {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
             "config": descriptors[0], "layers": descriptors[1:]}
        ).encode()  # fmt: skip
        headers = {**ALICE, "Content-Type": "application/vnd.oci.image.manifest.v1+json"}
        status, _, _ = registry.request(
            "PUT", f"/v2/alice/crash/manifests/{tag}", data=manifest, headers=headers
        )
    except OSError:  # the registry died under the request
        return None
    return sha(manifest) if status == 201 else None


def _pulls_whole(registry: RunningRegistry, tag: str) -> str:
    accept = {**ALICE, "Accept": "application/vnd.oci.image.manifest.v1+json"}
    status, _, body = registry.request("GET", f"/v2/alice/crash/manifests/{tag}", headers=accept)
    assert status == 200, (tag, status)
    manifest = json.loads(body)
    for descriptor in (manifest["config"], *manifest["layers"]):
        status, _, blob = registry.request(
            "GET", f"/v2/alice/crash/blobs/{descriptor['digest']}", headers=ALICE
        )
        assert status == 200 and sha(blob) == descriptor["digest"], (tag, descriptor["digest"], status)
    return sha(body)


def test_a_kill_during_concurrent_pushes_loses_nothing_acknowledged(tmp_path: Path) -> None:
    rng = random.Random(7)
    layers = {f"t{i}": os.urandom(rng.randrange(64 << 10, 512 << 10)) for i in range(PUSHES)}
    registry = start_berth_registry(tmp_path / "root", users={"alice": "alicepw"})
    acknowledged: dict[str, str] = {}
    try:
        threads = [
            threading.Thread(target=lambda t=tag: _record(acknowledged, t, _push(registry, t, layers[t])))
            for tag in layers
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)  # a few pushes done, the others under way or not begun
        registry.process.kill()
        registry.process.wait()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        registry.stop()

    registry = start_berth_registry(tmp_path / "root")
    try:
        checked = registry.cli("check")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        for tag, digest in acknowledged.items():
            assert _pulls_whole(registry, tag) == digest
        status, _, body = registry.request("GET", "/v2/alice/crash/tags/list", headers=ALICE)
        listed = json.loads(body).get("tags") or [] if status == 200 else []
        for tag in listed:  # no tag names anything half-there
            _pulls_whole(registry, tag)
        for tag in sorted(set(layers) - set(acknowledged)):  # the cut-short pushes, once more
            assert _push(registry, tag, layers[tag]) is not None, tag
            _pulls_whole(registry, tag)
        after = registry.cli("check")
        assert after.returncode == 0 and "no problems found" in after.stdout, after.stdout
    finally:
        registry.stop()
    assert 0 < len(acknowledged) < PUSHES, f"the kill did not land mid-way ({len(acknowledged)} of {PUSHES})"


def _record(acknowledged: dict[str, str], tag: str, digest: str | None) -> None:
    if digest is not None:
        acknowledged[tag] = digest
