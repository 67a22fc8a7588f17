"""berth against what the real docker CLI 28.2.2 did for the same command lines (captured by
capture_docker.py into docker_*.json): the same requests, the same client-side refusals (message and
exit status), the same client-side effects (``--cidfile``, ``-q``, ``--use-api-socket``).

Every berth run here is a real subprocess talking to the stub daemon over a real unix socket.
"""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile
from collections.abc import Iterator
from typing import Any

import pytest

from tests.unit.cli.capture_docker import _prepare, _pull_stub, _record, _routes
from tests.unit.cli.conftest import Result
from tests.unit.client.stubdaemon import StubDaemon

HERE = os.path.dirname(__file__)


def _cases(name: str) -> list[dict[str, Any]]:
    with open(os.path.join(HERE, name)) as fh:
        cases: list[dict[str, Any]] = json.load(fh)["cases"]
    return cases


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [" ".join(c["argv"])[:60] for c in cases]


@pytest.fixture
def scratch(tmp_path: Any) -> str:
    path = str(tmp_path / "scratch")
    os.makedirs(path)
    _prepare(path)
    return path


@pytest.fixture
def docker_stub(stub: StubDaemon) -> Iterator[StubDaemon]:
    _routes(stub)
    yield stub


def _berth(berth: Any, scratch: str, argv: list[str]) -> Result:
    args = [a.replace("@TMP", scratch) for a in argv]
    env = {"FROM_HOST": "yes", "BERTH_CONFIG": os.path.join(scratch, "config")}
    result: Result = berth(*args, env=env)
    return result


def _sent(stub: StubDaemon, scratch: str, before: int = 0) -> list[dict[str, Any]]:
    return [_record(r, scratch) for r in stub.requests[before:] if not r.path.endswith("/_ping")]


def _canonical(body: str) -> str:
    """The body with its key order and values, in one spelling (the client's separators are its own)."""
    return json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False) if body else body


def _docker_words(text: str) -> str:
    return text.replace("docker", "berth")


CREATES = [c for c in _cases("docker_create_bodies.json") if "query" in c]


@pytest.mark.parametrize("case", CREATES, ids=_ids(CREATES))
def test_create_request_matches_docker(
    case: dict[str, Any], berth: Any, docker_stub: StubDaemon, scratch: str
) -> None:
    verb = ["run", "-d"] if case["detach"] else ["create"]
    result = _berth(berth, scratch, [*verb, *case["argv"]])
    assert result.rc == 0, result.err
    made = [r for r in _sent(docker_stub, scratch) if r["path"].endswith("containers/create")]
    assert len(made) == 1
    if "--use-api-socket" in case["argv"]:  # the socket is the daemon's: the stub's here, as it was docker's
        made[0]["body"] = made[0]["body"].replace(docker_stub.socket_path, "@TMP/d.sock")
    assert made[0]["query"] == case["query"]
    assert _canonical(made[0]["body"]) == _canonical(case["body"])
    if "cidfile" in case:
        with open(os.path.join(scratch, "cid")) as fh:
            assert fh.read() == case["cidfile"]


REQUESTS = _cases("docker_requests.json")


def _key(request: dict[str, Any]) -> str:
    return json.dumps({**request, "body": _canonical(request["body"])}, sort_keys=True)


@pytest.mark.parametrize("case", REQUESTS, ids=_ids(REQUESTS))
def test_requests_match_docker(
    case: dict[str, Any], berth: Any, docker_stub: StubDaemon, scratch: str
) -> None:
    result = _berth(berth, scratch, case["argv"])
    assert result.rc == 0, result.err
    assert result.out == case["stdout"]
    # docker acts on several containers in parallel: compare as a multiset
    assert sorted(map(_key, _sent(docker_stub, scratch))) == sorted(map(_key, case["requests"]))


ERRORS = _cases("docker_errors.json")


@pytest.mark.parametrize("case", ERRORS, ids=_ids(ERRORS))
def test_refusals_match_docker(
    case: dict[str, Any], berth: Any, docker_stub: StubDaemon, scratch: str
) -> None:
    result = _berth(berth, scratch, case["argv"])
    sent = [
        f"{r['method']} {r['path']}" for r in _sent(docker_stub, scratch) if not r["path"].endswith("info")
    ]
    if case["sent"]:  # docker left it to the daemon: berth must not refuse it either
        assert result.rc == case["rc"], result.err
        assert sent and sent[0] == case["sent"][0]
        if "attach" in case:  # an attached run: the same streams asked for
            attach = [r for r in _sent(docker_stub, scratch) if r["path"].endswith("/attach")]
            assert attach and attach[0]["query"] == case["attach"]
        return
    assert sent == []
    assert (result.rc, result.err.replace(scratch, "@TMP")) == (case["rc"], _docker_words(case["stderr"]))


PULLS = _cases("docker_pulls.json")


@pytest.mark.parametrize("case", PULLS, ids=_ids(PULLS))
def test_pull_output_matches_docker(case: dict[str, Any], berth: Any, stub: StubDaemon, scratch: str) -> None:
    stub.close()
    pull_stub = _pull_stub(stub.socket_path)
    try:
        result = _berth(berth, scratch, case["argv"])
        sent = [f"{r['method']} {r['path']}" for r in _sent(pull_stub, scratch)]
    finally:
        pull_stub.close()
    assert (result.rc, result.out, result.err) == (case["rc"], case["stdout"], case["stderr"])
    assert sent[:3] == case["sent"][:3]


def test_use_api_socket_copies_the_logins(berth: Any, docker_stub: StubDaemon, scratch: str) -> None:
    """As docker: DOCKER_CONFIG points at /run/secrets/docker, whose config.json (0600) holds the logins."""
    with open(os.path.join(scratch, "config", "config.json"), "w") as fh:
        json.dump({"auths": {"localhost:5000": {"auth": base64.b64encode(b"u:p").decode()}}}, fh)
    result = _berth(berth, scratch, ["create", "--use-api-socket", "busybox"])
    assert result.rc == 0, result.err
    body = docker_stub.find("POST", "/containers/create")[0].json()
    assert body["Env"] == ["DOCKER_CONFIG=/run/secrets/docker"]
    put = docker_stub.find("PUT", "/archive")[0]
    assert put.q("path") == "/" and put.q("noOverwriteDirNonDir") == "true"
    with tarfile.open(fileobj=io.BytesIO(put.body)) as tar:
        member = tar.getmember("/run/secrets/docker/config.json")
        data = tar.extractfile(member).read()  # type: ignore[union-attr]
    assert member.mode == 0o600
    assert data == b'{\n\t"auths": {\n\t\t"localhost:5000": {\n\t\t\t"auth": "dTpw"\n\t\t}\n\t}\n}'


def test_cidfile_is_removed_when_the_create_fails(berth: Any, stub: StubDaemon, scratch: str) -> None:
    from tests.unit.client.stubdaemon import error_reply

    stub.route("POST", r"/containers/create", lambda r: error_reply(400, "bad"))
    result = _berth(berth, scratch, ["create", "--cidfile", "@TMP/cid", "busybox"])
    assert result.rc == 1
    assert not os.path.exists(os.path.join(scratch, "cid"))
