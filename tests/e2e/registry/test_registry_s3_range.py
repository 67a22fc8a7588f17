"""Blob GETs with ``Range`` and conditional headers, answered alike by a served registry on the S3 driver
(radosgw of the session's one-node Ceph, a ranged GetObject) and on the filesystem driver; and pulls
through ``storage.s3.redirect`` by real clients: berthd (``berth pull`` and the docker CLI 28's
``docker pull``), whose layers are checked by running a container from the pulled image, and a ranged
GET following the 307 to radosgw."""

from __future__ import annotations

import asyncio
import http.client
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from registry_e2e_helpers import RunningRegistry, answered, basic, sha, start_registry
from tests.e2e.conftest import Daemon

from berth.testing.ceph import CephCluster

ALICE = basic("alice", "alicepw")
_SIZE = 3 << 20


def _s3_config(path: Path, ceph: CephCluster, bucket: str, *, redirect: bool) -> Path:
    path.write_text(
        "storage:\n  driver: s3\n  s3:\n"
        f"    endpoint: {ceph.endpoint}\n    region: {ceph.region}\n    bucket: {bucket}\n"
        f"    path_style: true\n    redirect: {'true' if redirect else 'false'}\n"
    )
    return path


@pytest.fixture
def aws_env(ceph: CephCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ceph.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", ceph.secret_key)


@pytest.fixture(params=["filesystem", "s3"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningRegistry]:
    config = None
    if request.param == "s3":
        ceph: CephCluster = request.getfixturevalue("ceph")
        request.getfixturevalue("aws_env")
        config = _s3_config(
            tmp_path / "config.yml", ceph, request.getfixturevalue("s3_bucket"), redirect=False
        )
    reg = start_registry(tmp_path / "root", users={"alice": "alicepw"}, config=config)
    try:
        yield reg
    finally:
        reg.stop()


def _push_blob(registry: RunningRegistry, repo: str, data: bytes) -> str:
    status, headers, body = registry.request("POST", f"/v2/{repo}/blobs/uploads/", headers=ALICE)
    assert status == 202, body
    status, _, body = registry.request(
        "PUT", f"{headers['Location']}?digest={sha(data)}", data=data, headers=ALICE
    )
    assert status == 201, body
    return sha(data)


def _get(
    registry: RunningRegistry, path: str, method: str = "GET", **headers: str
) -> tuple[int, http.client.HTTPMessage, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", registry.port, timeout=60)
    try:
        connection.request(method, path, headers={**ALICE, **headers})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def test_range_and_conditional_gets_alike_on_s3_and_the_filesystem(registry: RunningRegistry) -> None:
    data = os.urandom(_SIZE)
    digest = _push_blob(registry, "alice/ranges", data)
    path = f"/v2/alice/ranges/blobs/{digest}"
    n = len(data)

    status, headers, body = _get(registry, path)
    assert (status, body == data, headers["Accept-Ranges"]) == (200, True, "bytes")
    assert headers["ETag"] == f'"{digest}"' and headers["Content-Length"] == str(n)

    satisfiable = {  # header: (first, last) byte sent
        "bytes=10-19": (10, 19),
        "bytes=0-0": (0, 0),
        f"bytes={n - 5}-": (n - 5, n - 1),
        "bytes=-7": (n - 7, n - 1),
        f"bytes=-{n + 100}": (0, n - 1),  # a suffix longer than the blob: all of it
        f"bytes=5-{n + 100}": (5, n - 1),  # a last byte past the end: to the end
        f"bytes={(1 << 20) + 3}-{(2 << 20) + 9}": ((1 << 20) + 3, (2 << 20) + 9),
    }
    for header, (first, last) in satisfiable.items():
        status, headers, body = _get(registry, path, Range=header)
        assert status == 206, header
        assert headers["Content-Range"] == f"bytes {first}-{last}/{n}", header
        assert body == data[first : last + 1] and headers["Content-Length"] == str(last - first + 1), header

    # Past the end, several ranges, malformed ones: 416 with the size, as aiohttp's FileResponse answers.
    for header in (
        f"bytes={n}-",
        f"bytes={n + 10}-{n + 20}",
        "bytes=0-1,5-6",
        "bytes=9-3",
        "items=0-5",
        "bytes=-",
        "bytes=-0",  # the last 0 bytes: nothing to send (aiohttp alone would read it as bytes=0-)
    ):
        status, headers, body = _get(registry, path, Range=header)
        assert (status, headers["Content-Range"], body) == (416, f"bytes */{n}", b""), header

    # HEAD answers what GET would, headers only (as Go's http.ServeContent in distribution)
    status, headers, body = _get(registry, path, "HEAD", Range="bytes=10-19")
    assert (status, headers["Content-Range"], headers["Content-Length"], body) == (
        206,
        f"bytes 10-19/{n}",
        "10",
        b"",
    )
    status, headers, _ = _get(registry, path, "HEAD")
    assert (status, headers["Content-Length"], headers["Docker-Content-Digest"]) == (200, str(n), digest)
    status, headers, _ = _get(registry, path, "HEAD", Range=f"bytes={n}-")
    assert (status, headers["Content-Range"]) == (416, f"bytes */{n}")
    assert _get(registry, path, "HEAD", **{"If-None-Match": f'"{digest}"'})[0] == 304

    status, headers, body = _get(registry, path, **{"If-None-Match": f'"{digest}"'})
    assert (status, body, headers["ETag"]) == (304, b"", f'"{digest}"')
    assert _get(registry, path, **{"If-None-Match": f'W/"{digest}"'})[0] == 304
    assert _get(registry, path, **{"If-None-Match": "*"})[0] == 304
    status, _, body = _get(registry, path, **{"If-None-Match": '"sha256:other"'})
    assert (status, body == data) == (200, True)
    assert _get(registry, path, **{"If-Match": '"sha256:other"'})[0] == 412
    assert _get(registry, path, **{"If-Match": f'"{digest}"'})[0] == 200

    status, _, body = _get(registry, path, Range="bytes=4-8", **{"If-Range": f'"{digest}"'})
    assert (status, body) == (206, data[4:9])
    status, _, body = _get(registry, path, Range="bytes=4-8", **{"If-Range": '"sha256:other"'})
    assert (status, body == data) == (200, True)  # not the blob's tag: the whole blob


# -- through storage.s3.redirect ---------------------------------------------------------------------


@pytest.fixture
def redirecting(
    tmp_path: Path, ceph: CephCluster, s3_bucket: str, aws_env: None
) -> Iterator[RunningRegistry]:
    config = _s3_config(tmp_path / "config.yml", ceph, s3_bucket, redirect=True)
    reg = start_registry(tmp_path / "root", users={"alice": "alicepw"}, config=config)
    try:
        yield reg
    finally:
        reg.stop()


def test_a_ranged_get_follows_the_redirect_without_the_registrys_credentials(
    redirecting: RunningRegistry, ceph: CephCluster
) -> None:
    data = os.urandom(_SIZE)
    digest = _push_blob(redirecting, "alice/ranged", data)

    async def fetch(range_header: str) -> tuple[int, str, str, bytes]:
        # aiohttp, as berthd's distribution client: follows the 307, drops Authorization on the new origin
        async with aiohttp.ClientSession() as session:
            url = f"{redirecting.url}/v2/alice/ranged/blobs/{digest}"
            async with session.get(url, headers={**ALICE, "Range": range_header}) as resp:
                return resp.status, str(resp.url), resp.headers.get("Content-Range", ""), await resp.read()

    status, final, content_range, body = asyncio.run(fetch("bytes=1000-1999"))
    assert final.startswith(ceph.endpoint) and "X-Amz-Signature" in final
    assert (status, content_range, body) == (206, f"bytes 1000-1999/{len(data)}", data[1000:2000])
    status, _, content_range, body = asyncio.run(fetch(f"bytes={len(data) - 10}-"))  # a resumed tail
    assert (status, body) == (206, data[-10:])


@pytest.mark.root
@pytest.mark.docker_cli
@pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI")
def test_berthd_pulls_through_the_redirect_with_berth_and_docker(
    berthd: Daemon, busybox_image: str, redirecting: RunningRegistry, tmp_path: Path
) -> None:
    payload = os.urandom(_SIZE)
    context = tmp_path / "context"
    context.mkdir()
    (context / "payload.bin").write_bytes(payload)
    (context / "Dockerfile").write_text(f"FROM {busybox_image}\nCOPY payload.bin /payload.bin\n")
    ref = f"{redirecting.host}/alice/viaredirect:1"
    berthd.berth("build", "-t", ref, str(context), check=True, timeout=120)
    layers = berthd.docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", ref, check=True).stdout
    berthd.docker(
        "login", "-u", "alice", "--password-stdin", redirecting.host, input=b"alicepw\n", check=True
    )
    berthd.berth("login", "-u", "alice", "--password-stdin", redirecting.host, input=b"alicepw\n", check=True)
    berthd.docker("push", ref, check=True)
    redirects_before = answered(redirecting, "307")

    for cli in ("berth", "docker"):
        berthd.docker("rmi", ref, check=True)
        berthd.docker("image", "rm", "-f", busybox_image)  # so every layer is fetched, busybox's too
        pulled = (berthd.berth if cli == "berth" else berthd.docker)("pull", ref, timeout=120)
        assert pulled.returncode == 0, pulled.stderr
        assert berthd.docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", ref).stdout == layers
        ran = berthd.docker("run", "--rm", ref, "sha256sum", "/payload.bin", check=True, timeout=60)
        assert ran.stdout.split()[0] == sha(payload).removeprefix("sha256:"), cli
        redirects = answered(redirecting, "307")
        assert redirects >= redirects_before + 3, cli  # the config and both layers came from radosgw
        redirects_before = redirects
