"""``berth build``: .dockerignore handling and the request docker's legacy builder sends."""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Callable

from berth.api.auth import decode_header
from berth.api.dockerignore import ignored as is_ignored
from berth.api.dockerignore import read_patterns as parse_dockerignore
from tests.unit.cli.conftest import Result
from tests.unit.client.stubdaemon import Reply, StubDaemon


def test_dockerignore_rules() -> None:
    rules = parse_dockerignore("# c\n*.log\n!keep.log\nbuild/\n**/secret\ndocs/*.md\n")
    assert is_ignored("app.log", rules) and not is_ignored("keep.log", rules)
    assert is_ignored("build", rules) and is_ignored("build/out/x.o", rules)
    assert is_ignored("secret", rules) and is_ignored("a/b/secret", rules)
    assert is_ignored("docs/readme.md", rules) and not is_ignored("docs/sub/readme.md", rules)
    assert not is_ignored("src/main.py", rules)


def test_build_request(stub: StubDaemon, berth: Callable[..., Result], tmp_path: object) -> None:
    ctx = os.path.join(str(tmp_path), "ctx")
    os.makedirs(os.path.join(ctx, "sub"))
    for name, text in (
        ("Dockerfile", "FROM busybox\n"),
        ("a.txt", "a"),
        ("skip.log", "x"),
        ("sub/b.txt", "b"),
        (".dockerignore", "*.log\n"),
    ):
        with open(os.path.join(ctx, name), "w") as fh:
            fh.write(text)
    stream = [
        b'{"stream":"Step 1/1 : FROM busybox\\n"}\r\n',
        b'{"aux":{"ID":"sha256:abc"}}\r\n',
        b'{"stream":"Successfully built abc\\n"}\r\n',
    ]
    stub.route("POST", "/build", lambda r: Reply(200, stream, chunked=True))
    res = berth("build", "-t", "app:1", "-t", "app:latest", "--build-arg", "V=2", "--label", "k=v", ctx)
    assert res.rc == 0, res.err
    assert res.out.startswith("Sending build context to Berth daemon")
    assert "Step 1/1 : FROM busybox\nSuccessfully built abc\n" in res.out
    req = stub.find("POST", "/build")[0]
    assert req.query["t"] == ["app:1", "app:latest"] and req.q("dockerfile") == "Dockerfile"
    assert json.loads(req.q("buildargs") or "") == {"V": "2"} and json.loads(req.q("labels") or "") == {
        "k": "v"
    }
    assert req.q("version") == "1" and req.headers["content-type"] == "application/x-tar"
    assert decode_header(req.headers["x-registry-config"]) == {}
    with tarfile.open(fileobj=io.BytesIO(req.body)) as tar:
        assert sorted(tar.getnames()) == [".dockerignore", "Dockerfile", "a.txt", "sub", "sub/b.txt"]
    assert req.q("rm") == "1" and req.q("networkmode") == "default" and req.q("memory") == "0"
    assert req.q("cachefrom") == "null" and req.q("ulimits") == "null" and req.q("platform") is None


def test_quiet_prints_the_id_dockerd_answers_with(
    stub: StubDaemon, berth: Callable[..., Result], tmp_path: object
) -> None:
    ctx = os.path.join(str(tmp_path), "ctx")
    os.makedirs(ctx)
    with open(os.path.join(ctx, "Dockerfile"), "w") as fh:
        fh.write("FROM busybox\n")
    stub.route("POST", "/build", lambda r: Reply(200, [b'{"stream":"sha256:abc\\n"}\r\n'], chunked=True))
    iid = os.path.join(str(tmp_path), "iid")
    quiet = berth("build", "-q", "--iidfile", iid, ctx)
    assert (quiet.rc, quiet.out) == (0, "sha256:abc\n")
    with open(iid) as fh:
        assert fh.read() == "sha256:abc"
    assert stub.find("POST", "/build")[0].q("q") == "1"


def test_every_legacy_flag_becomes_the_docker_cli_query(
    stub: StubDaemon, berth: Callable[..., Result], tmp_path: object
) -> None:
    ctx = os.path.join(str(tmp_path), "ctx")
    os.makedirs(ctx)
    with open(os.path.join(ctx, "Dockerfile"), "w") as fh:
        fh.write("FROM busybox\n")
    stream = [b'{"aux":{"ID":"sha256:abc"}}\r\n', b'{"stream":"Successfully built abc\\n"}\r\n']
    stub.route("POST", "/build", lambda r: Reply(200, stream, chunked=True))
    res = berth(
        "build", "--add-host", "h:10.0.0.1", "--cache-from", "a,b", "--cache-from", "c",
        "--cgroup-parent", "grp", "--cpu-period", "50000", "--cpu-quota", "25000", "-c", "512",
        "-m", "64m", "--memory-swap", "-1", "--shm-size", "128m", "--force-rm", "--rm=false",
        "--network", "none", "--no-cache", "--pull", "--target", "t", "--platform", "Linux/AMD64",
        "--ulimit", "nofile=10:20", "--isolation", "default", "--squash", ctx,
    )  # fmt: skip
    assert res.rc == 0, res.err
    req = stub.find("POST", "/build")[0]
    assert req.query["extrahosts"] == ["h:10.0.0.1"]
    assert json.loads(req.q("cachefrom") or "") == ["a", "b", "c"]
    assert (req.q("cgroupparent"), req.q("cpuperiod"), req.q("cpuquota"), req.q("cpushares")) == (
        "grp", "50000", "25000", "512",
    )  # fmt: skip
    assert (req.q("memory"), req.q("memswap"), req.q("shmsize")) == (str(64 << 20), "-1", str(128 << 20))
    assert (req.q("forcerm"), req.q("rm"), req.q("nocache"), req.q("pull"), req.q("squash")) == (
        "1", "0", "1", "1", "1",
    )  # fmt: skip
    assert (req.q("networkmode"), req.q("target"), req.q("platform")) == ("none", "t", "linux/amd64")
    assert json.loads(req.q("ulimits") or "") == [{"Name": "nofile", "Hard": 20, "Soft": 10}]
    assert req.q("isolation") is None  # "default" is not sent, as the docker CLI


def test_buildkit_only_flags_are_refused_before_anything_is_sent(
    stub: StubDaemon, berth: Callable[..., Result], tmp_path: object
) -> None:
    for flags in (["--progress", "rawjson"],):  # (--output, --cache-to: test_build_outputs.py)
        res = berth("build", *flags, str(tmp_path))
        assert res.rc == 125 and "requires BuildKit" in res.err, (flags, res.err)
    for flags, message in (
        (["--secret", "id=nowhere-to-be-found"], "secret nowhere-to-be-found: failed to read"),
        (["--secret", "src=/etc/hostname"], "id=… is required"),
        (["--secret", "id=x,colour=red"], "unexpected key 'colour'"),
        (["--ssh", f"default={tmp_path}"], "is not an agent socket"),
    ):
        res = berth("build", *flags, str(tmp_path))
        assert res.rc == 125 and message in res.err, (flags, res.err)
    assert stub.find("POST", "/build") == []
