"""``berth build``: .dockerignore handling and the request docker's legacy builder sends."""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Callable

from berth.api.auth import decode_header
from berth.cli.build import is_ignored, parse_dockerignore
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
    quiet = berth("build", "-q", ctx)
    assert (quiet.rc, quiet.out) == (0, "sha256:abc\n")
