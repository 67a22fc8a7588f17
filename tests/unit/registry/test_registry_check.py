"""``berth-registry check [--repair]`` on a real root (FilesystemDriver + SQLite): content is pushed
through the in-process app, then damaged on disk and in the database the way crashes and people do."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from registry_helpers import ALICE, Client, basic, push_blob, push_image, sha

from berth.registry.check import Severity, check
from berth.registry.config import RegistryConfig
from berth.registry.gc import collect
from berth.registry.service import Registry
from berth.registry.storage import paths
from berth.testing.registry import registry_cli, start_berth_registry

_LONG_AGO = time.time() - 2 * 24 * 3600


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    """Overrides conftest's: the default FilesystemDriver under the root, so files can be damaged and
    the CLI (another process) sees the same storage."""
    reg = Registry(RegistryConfig(root=tmp_path / "root", bcrypt_rounds=4))
    reg.accounts.add_user("alice", "alicepw")
    yield reg
    reg.close()


def _file(registry: Registry, path: str) -> Path:
    real = registry.driver.local_path(path)
    assert real is not None
    return real


def _age(path: Path) -> None:
    os.utime(path, (_LONG_AGO, _LONG_AGO))


def _run(registry: Registry, *args: str) -> tuple[int, list[str]]:
    result = registry_cli(registry.config.root, *args)
    assert result.stderr == ""
    return result.returncode, result.stdout.splitlines()


async def _pullable(client: Client, repo: str, tag: str) -> None:
    """GET the manifest and every blob it names; each must hash to its digest."""
    r = await client.get(f"/v2/{repo}/manifests/{tag}", headers=ALICE)
    assert r.status == 200, await r.text()
    manifest = json.loads(await r.read())
    for desc in [manifest["config"], *manifest["layers"]]:
        r = await client.get(f"/v2/{repo}/blobs/{desc['digest']}", headers=ALICE)
        assert r.status == 200 and sha(await r.read()) == desc["digest"]


async def test_clean_registry_reports_nothing(client: Client, registry: Registry) -> None:
    await push_image(client, "alice/app", "v1")
    report = check(registry)
    assert report.findings == [] and report.clean
    assert report.render() == "no problems found"
    assert _run(registry, "check") == (0, ["no problems found"])
    assert _run(registry, "check", "--repair") == (0, ["no problems found"])


async def test_damage_is_found_repaired_and_repushed(client: Client, registry: Registry) -> None:
    app, _ = await push_image(client, "alice/app", "v1", layer=b"app layer")
    web, _ = await push_image(client, "alice/web", "v1", layer=b"web layer")
    gone, _ = await push_image(client, "alice/gone", "v1", layer=b"gone layer")
    kept, _ = await push_image(client, "alice/kept", "v1", layer=b"kept layer")
    orphan = await push_blob(client, "alice/app", b"uploaded, never named")
    app_layer, web_layer, gone_layer = sha(b"app layer"), sha(b"web layer"), sha(b"gone layer")

    # Damage: a deleted layer, a layer overwritten with as many other bytes, a deleted manifest,
    # a tag row naming nothing, an abandoned upload session, upload data without a session, and a
    # temp file an interrupted put_content left. Young leftovers (a write in flight) must survive.
    _file(registry, paths.blob_data(app_layer)).unlink()
    _file(registry, paths.blob_data(web_layer)).write_bytes(b"bit rot!!")
    _file(registry, paths.blob_data(gone)).unlink()
    ghost = "sha256:" + "f" * 64
    registry.db.execute(
        "INSERT INTO tags (repo, tag, digest, updated) VALUES ('alice/app', 'ghost', ?, ?)",
        (ghost, time.time()),
    )
    r = await client.post("/v2/alice/app/blobs/uploads/", headers=ALICE)
    stale_upload = r.headers["Location"].rsplit("/", 1)[1]
    r = await client.patch(r.headers["Location"], data=b"half of it", headers=ALICE)
    assert r.status == 202
    registry.db.execute("UPDATE uploads SET started = ? WHERE id = ?", (_LONG_AGO, stale_upload))
    r = await client.post("/v2/alice/app/blobs/uploads/", headers=ALICE)
    live_upload = r.headers["Location"]
    orphan_upload, young_upload = str(uuid.uuid4()), str(uuid.uuid4())
    for upload_id in (orphan_upload, young_upload):
        data = _file(registry, paths.upload_data(upload_id))
        data.parent.mkdir(parents=True)
        data.write_bytes(b"left over")
    _age(_file(registry, paths.upload_data(orphan_upload)))
    kept_dir = _file(registry, paths.blob_data(kept)).parent
    temp, young_temp = kept_dir / f".data.{uuid.uuid4().hex}.tmp", kept_dir / f".data.{uuid.uuid4().hex}.tmp"
    temp.write_bytes(b"{")
    young_temp.write_bytes(b"{")
    _age(temp)

    found = [
        f"blob {app_layer} in metadata: bytes missing from storage",
        f"blob {gone} in metadata: bytes missing from storage",
        f"blob {web_layer} in storage: bytes do not match the digest",
        f"manifest alice/app@{app}: its layer {app_layer} is missing from storage (push the image again)",
        f"manifest alice/gone@{gone}: its bytes are missing from storage (tagged v1)",
        f"manifest alice/web@{web}: its layer {web_layer} is corrupt (push the image again)",
        f"tag alice/app:ghost: points to manifest {ghost}, which does not exist",
        f"upload {stale_upload} (alice/app): stale session, started 48 hours ago",
        f"upload data /uploads/{orphan_upload} in storage: no upload session owns it",
        f"object {paths.blob_data(kept).rsplit('/', 1)[0]}/{temp.name} in storage: "
        "temporary file of an interrupted write",
    ]
    notice = f"blob {orphan} in storage: unreferenced, gc will collect it"
    report = check(registry)
    assert sorted(map(str, report.problems)) == sorted(found)
    assert [str(f) for f in report.findings if f.severity is Severity.NOTICE] == [notice]
    assert report.summary() == "10 problems found, 8 can be repaired with --repair; 1 notice"
    assert not report.clean and report.repairs == []
    code, lines = _run(registry, "check")  # the CLI, in another process, sees the same
    assert code == 1 and lines == report.render().splitlines()

    code, lines = _run(registry, "check", "--repair")
    assert code == 1  # the two manifests whose layers are lost stay until they are pushed again
    repairs = [
        f"removed the metadata of missing blob {app_layer} (1 repository link)",
        f"removed the metadata of missing blob {gone} (1 repository link)",
        f"deleted the corrupt bytes of blob {web_layer} and their metadata (a push stores them again)",
        f"removed manifest alice/gone@{gone} and its tag v1 (its bytes were lost)",
        f"removed tag alice/app:ghost (its manifest {ghost} does not exist)",
        f"removed stale upload session {stale_upload}",
        f"deleted orphan upload data /uploads/{orphan_upload}",
        f"deleted leftover {paths.blob_data(kept).rsplit('/', 1)[0]}/{temp.name}",
    ]
    assert sorted(lines[:-1]) == sorted([*found, notice, *repairs])
    assert lines[-1] == "10 problems found, 8 repaired; 1 notice"
    assert not _file(registry, paths.blob_data(web_layer)).exists()
    assert not temp.exists() and not _file(registry, paths.upload_dir(orphan_upload)).exists()
    assert young_temp.exists() and _file(registry, paths.upload_data(young_upload)).exists()

    after = check(registry)
    assert sorted(map(str, after.problems)) == [  # the corrupt bytes were deleted, so now missing
        found[3],
        f"manifest alice/web@{web}: its layer {web_layer} is missing from storage (push the image again)",
    ]
    assert all(f.fix is None for f in after.problems)
    assert {str(f) for f in after.findings if f.severity is Severity.NOTICE} == {
        notice,
        f"blob {gone_layer} in storage: unreferenced, gc will collect it",  # its manifest was removed
    }

    # What was not damaged is intact; the open session still finishes.
    await _pullable(client, "alice/kept", "v1")
    r = await client.put(f"{live_upload}?digest={sha(b'late')}", data=b"late", headers=ALICE)
    assert r.status == 201
    r = await client.get("/v2/alice/gone/manifests/v1", headers=ALICE)
    assert r.status == 404
    r = await client.head(f"/v2/alice/web/blobs/{web_layer}", headers=ALICE)
    assert r.status == 404  # so a client pushing it again uploads it

    # Pushing the images again stores the lost bytes; then the registry is consistent.
    await push_image(client, "alice/app", "v1", layer=b"app layer")
    await push_image(client, "alice/web", "v1", layer=b"web layer")
    await _pullable(client, "alice/web", "v1")
    await _pullable(client, "alice/app", "v1")
    code, lines = _run(registry, "check")
    assert code == 0 and lines[-1] == "no problems found; 3 notices"  # orphan, gone's layer, "late"


async def test_metadata_damage_is_rebuilt_from_intact_bytes(client: Client, registry: Registry) -> None:
    digest, body = await push_image(client, "alice/app", "v1", layer=b"layer")
    config, layer = json.loads(body)["config"], sha(b"layer")
    registry.db.execute("DELETE FROM blobs WHERE digest = ?", (layer,))  # a lost row, bytes intact
    registry.db.execute("DELETE FROM manifest_refs WHERE child = ?", (layer,))
    registry.db.execute("UPDATE blobs SET size = 999 WHERE digest = ?", (config["digest"],))
    loose = b"bytes no row knows"
    data = _file(registry, paths.blob_data(sha(loose)))
    data.parent.mkdir(parents=True)
    data.write_bytes(loose)

    report = check(registry)
    blob_lines = {
        layer: f"blob {layer} in storage: has no metadata row, though a manifest names it",
        sha(
            loose
        ): f"blob {sha(loose)} in storage: unreferenced and without a metadata row (gc cannot see it)",
        config["digest"]: f"blob {config['digest']} in metadata: size 999 does not match its "
        f"{config['size']} intact bytes",
    }
    assert [str(f) for f in report.findings] == [line for _, line in sorted(blob_lines.items())] + [
        f"manifest alice/app@{digest}: 1 reference missing from manifest_refs (gc would not keep it)"
    ]
    assert report.summary() == "3 problems found, 3 can be repaired with --repair; 1 notice"
    r = await client.get(f"/v2/alice/app/blobs/{layer}", headers=ALICE)
    assert r.status == 404  # the lost row hides the layer

    repaired = check(registry, repair=True)
    assert repaired.clean
    assert sorted(repaired.repairs) == sorted(
        [
            f"recorded blob {layer} in the metadata (5 bytes)",
            f"recorded blob {sha(loose)} in the metadata ({len(loose)} bytes)",
            f"corrected the size of blob {config['digest']} to {config['size']} bytes",
            f"recorded 1 reference of manifest alice/app@{digest} for gc",
        ]
    )
    await _pullable(client, "alice/app", "v1")
    # Recorded, the loose bytes are gc's again; the layer is referenced again, so gc keeps it.
    assert [d for d, _ in collect(registry, grace=0).blobs] == [sha(loose)]
    assert check(registry).render() == "no problems found"
    await _pullable(client, "alice/app", "v1")


def test_inmemory_root_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "registry.yaml"
    config.write_text("storage: {driver: inmemory}\n")
    result = registry_cli(tmp_path / "root", "check", "--repair", config=config)
    assert result.returncode == 1
    assert "inmemory storage driver" in result.stderr


def test_repair_beside_a_serving_registry(tmp_path: Path) -> None:
    """A push half-way (a blob published, an upload open) is left alone, and finishes afterwards."""
    served = start_berth_registry(tmp_path / "root", users={"alice": "pw"})
    try:
        auth = basic("alice", "pw")
        config, layer = b'{"os": "linux", "architecture": "amd64"}', b"served layer"
        status, headers, _ = served.request("POST", "/v2/alice/app/blobs/uploads/", headers=auth)
        assert status == 202
        status, _, _ = served.request(
            "PUT", f"{headers['Location']}?digest={sha(config)}", data=config, headers=auth
        )
        assert status == 201
        status, headers, _ = served.request("POST", "/v2/alice/app/blobs/uploads/", headers=auth)
        upload = headers["Location"]
        status, headers, _ = served.request("PATCH", upload, data=layer[:6], headers=auth)
        assert status == 202

        result = served.cli("check", "--repair")
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.splitlines() == [
            f"blob {sha(config)} in storage: unreferenced, gc will collect it",
            "no problems found; 1 notice",
        ]

        status, _, _ = served.request(
            "PUT", f"{headers['Location']}?digest={sha(layer)}", data=layer[6:], headers=auth
        )
        assert status == 201
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": sha(config),
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": sha(layer),
                        "size": len(layer),
                    }
                ],
            }
        ).encode()
        content_type = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
        status, _, body = served.request(
            "PUT", "/v2/alice/app/manifests/v1", data=manifest, headers={**auth, **content_type}
        )
        assert status == 201, body
        result = served.cli("check")
        assert (result.returncode, result.stdout) == (0, "no problems found\n")
        status, _, body = served.request("GET", f"/v2/alice/app/blobs/{sha(layer)}", headers=auth)
        assert (status, body) == (200, layer)
    finally:
        served.stop()
