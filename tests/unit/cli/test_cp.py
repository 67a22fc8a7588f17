"""``berth cp`` both ways against the stub: stat header (Go FileMode), archive GET/HEAD/PUT, renames."""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile
from collections.abc import Callable

from berth.api.filemode import MODE_DIR
from tests.unit.cli.conftest import Result
from tests.unit.client.stubdaemon import Reply, Request, StubDaemon, error_reply

Berth = Callable[..., Result]


def _stat(name: str, mode: int, size: int = 0) -> str:
    return base64.b64encode(
        json.dumps(
            {"name": name, "size": size, "mode": mode, "mtime": "2024-01-01T00:00:00Z", "linkTarget": ""}
        ).encode()
    ).decode()


def _tar(entries: dict[str, bytes | None]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o640
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_cp_into_existing_directory(stub: StubDaemon, berth: Berth, tmp_path: object) -> None:
    src = os.path.join(str(tmp_path), "in.txt")
    with open(src, "w") as fh:
        fh.write("payload")
    stub.route(
        "HEAD",
        "/containers/c/archive",
        lambda r: Reply(200, headers={"X-Docker-Container-Path-Stat": _stat("tmp", MODE_DIR | 0o1777)}),
    )
    stub.route("PUT", "/containers/c/archive", lambda r: Reply(200))
    res = berth("cp", src, "c:/tmp")
    assert res.rc == 0, res.err
    put = stub.find("PUT", "/archive")[0]
    assert put.q("path") == "/tmp" and put.q("noOverwriteDirNonDir") == "true"
    with tarfile.open(fileobj=io.BytesIO(put.body)) as tar:
        member = tar.getmember("in.txt")
        assert tar.extractfile(member).read() == b"payload"  # type: ignore[union-attr]
        assert member.uid == 0


def test_cp_to_new_name(stub: StubDaemon, berth: Berth, tmp_path: object) -> None:
    src = os.path.join(str(tmp_path), "in.txt")
    with open(src, "w") as fh:
        fh.write("x")
    stub.route("HEAD", "/containers/c/archive", lambda r: error_reply(404, "Could not find the file"))
    stub.route("PUT", "/containers/c/archive", lambda r: Reply(200))
    assert berth("cp", src, "c:/etc/renamed.conf").rc == 0
    put = stub.find("PUT", "/archive")[0]
    assert put.q("path") == "/etc"
    with tarfile.open(fileobj=io.BytesIO(put.body)) as tar:
        assert tar.getnames() == ["renamed.conf"]


def test_cp_from_container(stub: StubDaemon, berth: Berth, tmp_path: object) -> None:
    def archive(r: Request) -> Reply:
        if r.q("path") == "/etc/hostname":
            return Reply(
                200,
                _tar({"hostname": b"box\n"}),
                {"X-Docker-Container-Path-Stat": _stat("hostname", 0o644, 4)},
            )
        return Reply(
            200,
            _tar({"conf": None, "conf/a": b"1"}),
            {"X-Docker-Container-Path-Stat": _stat("conf", MODE_DIR | 0o755)},
        )

    stub.route("GET", "/containers/c/archive", archive)
    dest = os.path.join(str(tmp_path), "copy-of-hostname")
    assert berth("cp", "c:/etc/hostname", dest).rc == 0
    with open(dest) as fh:
        assert fh.read() == "box\n"
    assert (os.stat(dest).st_mode & 0o777) == 0o644 or (os.stat(dest).st_mode & 0o777) == 0o640
    assert berth("cp", "c:/conf", str(tmp_path)).rc == 0
    with open(os.path.join(str(tmp_path), "conf", "a")) as fh:
        assert fh.read() == "1"
    res = berth("cp", "c:/conf", "-")
    assert res.rc == 0 and "conf/a" in res.out


def test_cp_rejects_escaping_tar(stub: StubDaemon, berth: Berth, tmp_path: object) -> None:
    stub.route(
        "GET",
        "/containers/c/archive",
        lambda r: Reply(200, _tar({"../evil": b"x"}), {"X-Docker-Container-Path-Stat": _stat("evil", 0o644)}),
    )
    dest_dir = os.path.join(str(tmp_path), "d")
    os.makedirs(dest_dir)
    res = berth("cp", "c:/evil", dest_dir)
    assert res.rc == 1 and "refusing to extract" in res.err
    assert not os.path.exists(os.path.join(str(tmp_path), "evil"))
