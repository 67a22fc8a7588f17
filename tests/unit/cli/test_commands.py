"""``berth`` as a real subprocess against the stub daemon: requests sent, output, exit codes."""

from __future__ import annotations

import base64
import json
import os
import socket
import time
from collections.abc import Callable, Iterator

from berth.api.auth import decode_header
from berth.api.stdcopy import encode_frame
from tests.unit.cli.conftest import Result
from tests.unit.client.stubdaemon import Reply, Request, StubDaemon, error_reply, json_reply

Berth = Callable[..., Result]
CID = "c" * 64
NOW = int(time.time())


def _containers(r: Request) -> Reply:
    return json_reply(
        [
            {
                "Id": "a" * 64,
                "Names": ["/web"],
                "Image": "busybox",
                "ImageID": "sha256:" + "b" * 64,
                "Command": "sh",
                "Created": int(time.time()) - 7200,
                "State": "running",
                "Status": "Up 7 seconds",
                "Ports": [],
                "Labels": {},
                "Mounts": [],
            }
        ]
    )


def test_ps_table_quiet_and_filters(stub: StubDaemon, berth: Berth) -> None:
    stub.route("GET", "/containers/json", _containers)
    res = berth("ps")
    assert res.rc == 0, res.err
    assert res.out == (
        "CONTAINER ID   IMAGE     COMMAND   CREATED       STATUS         PORTS     NAMES\n"
        'aaaaaaaaaaaa   busybox   "sh"      2 hours ago   Up 7 seconds             web\n'
    )
    assert berth("ps", "-q").out == "aaaaaaaaaaaa\n"
    assert berth("ps", "-aq", "--no-trunc").out == "a" * 64 + "\n"
    berth("ps", "-a", "--filter", "status=exited", "-n", "2")
    req = stub.find("GET", "/containers/json")[-1]
    assert req.q("all") == "1" and req.q("limit") == "2"
    assert json.loads(req.q("filters") or "") == {"status": {"exited": True}}
    assert berth("ps", "--format", "{{.Names}} {{.State}}").out == "web running\n"
    assert json.loads(berth("ps", "--format", "json").out)["Names"] == "web"


def test_images_table(stub: StubDaemon, berth: Berth) -> None:
    stub.route(
        "GET",
        "/images/json",
        lambda r: json_reply(
            [
                {
                    "Id": "sha256:" + "b" * 64,
                    "RepoTags": ["busybox:latest", "localhost:5000/busybox:1"],
                    "RepoDigests": [],
                    "Created": time.time() - 7200,
                    "Size": 4261550,
                },
                {
                    "Id": "sha256:" + "d" * 64,
                    "RepoTags": [],
                    "RepoDigests": [],
                    "Created": time.time() - 60,
                    "Size": 1000,
                },
            ]
        ),
    )
    res = berth("images")
    assert res.rc == 0, res.err
    assert res.out == (
        "REPOSITORY               TAG       IMAGE ID       CREATED              SIZE\n"
        "busybox                  latest    bbbbbbbbbbbb   2 hours ago          4.26MB\n"
        "localhost:5000/busybox   1         bbbbbbbbbbbb   2 hours ago          4.26MB\n"
        "<none>                   <none>    dddddddddddd   About a minute ago   1kB\n"
    )
    assert berth("images", "-q").out == "bbbbbbbbbbbb\nbbbbbbbbbbbb\ndddddddddddd\n"


def _run_routes(stub: StubDaemon, *, status: int = 5, start_error: str = "") -> dict[str, int]:
    state = {"creates": 0}

    def create(r: Request) -> Reply:
        state["creates"] += 1
        if state["creates"] == 1:
            return error_reply(404, "No such image: busybox:latest")
        return json_reply({"Id": CID, "Warnings": []}, 201)

    def attach(sock: socket.socket) -> None:
        received = b""
        sock.settimeout(5)
        if "stdin=1" in stub.requests[-1].target:
            while chunk := sock.recv(4096):
                received += chunk
        time.sleep(0.05)
        sock.sendall(encode_frame(1, b"out:" + received) + encode_frame(2, b"err\n"))
        sock.close()

    def wait(r: Request) -> Reply:
        def body() -> Iterator[bytes]:
            yield b" "  # headers go out at once (the wait is armed), the status after the exit
            time.sleep(0.2)
            yield json.dumps({"StatusCode": status, "Error": None}).encode()

        return Reply(200, body(), {"Content-Type": "application/json"}, chunked=True)

    stub.route("POST", "/containers/create", create)
    stub.route(
        "POST",
        "/images/create",
        lambda r: Reply(
            200,
            [b'{"status":"Pulling fs layer","id":"abc"}\r\n', b'{"status":"Pull complete","id":"abc"}\r\n'],
            chunked=True,
        ),
    )
    stub.route("POST", "/containers/[^/]+/attach", lambda r: Reply(200, hijack=attach))
    stub.route("POST", "/containers/[^/]+/wait", wait)
    if start_error:
        stub.route("POST", "/containers/[^/]+/start", lambda r: error_reply(500, start_error))
    else:
        stub.route("POST", "/containers/[^/]+/start", lambda r: Reply(204))
    return state


def test_run_attached_pulls_attaches_waits_starts(stub: StubDaemon, berth: Berth) -> None:
    state = _run_routes(stub, status=5)
    res = berth("run", "--name", "t", "busybox", "echo", "hi")
    assert res.rc == 5, res.err
    assert res.out == "out:"
    assert "Unable to find image 'busybox:latest' locally\n" in res.err
    assert res.err.endswith("err\n")
    assert state["creates"] == 2
    pull = stub.find("POST", "/images/create")[0]
    assert pull.q("fromImage") == "docker.io/library/busybox" and pull.q("tag") == "latest"
    assert decode_header(pull.headers["x-registry-auth"]) == {}
    order = [r.path.split("/")[-1] for r in stub.requests if r.method == "POST"]
    assert order == ["create", "create", "create", "attach", "wait", "start"]
    assert stub.find("POST", "/wait")[0].q("condition") == "next-exit"
    assert stub.find("POST", "/containers/create")[0].q("name") == "t"


def test_run_rm_waits_for_removal_and_stdin(stub: StubDaemon, berth: Berth) -> None:
    _run_routes(stub, status=0)
    res = berth("run", "--rm", "-i", "busybox", "cat", stdin=b"hello\n")
    assert res.rc == 0, res.err
    assert res.out == "out:hello\n"
    assert stub.find("POST", "/wait")[0].q("condition") == "removed"
    assert stub.find("POST", "/attach")[0].q("stdin") == "1"


def test_run_start_errors_map_to_126_127(stub: StubDaemon, berth: Berth) -> None:
    _run_routes(stub, start_error='exec: "nope": executable file not found in $PATH')
    res = berth("run", "busybox", "nope")
    assert res.rc == 127
    assert res.err.strip().endswith(
        'berth: Error response from daemon: exec: "nope": executable file not found in $PATH'
    )


def test_run_detached_prints_id(stub: StubDaemon, berth: Berth) -> None:
    stub.route("POST", "/containers/create", lambda r: json_reply({"Id": CID, "Warnings": []}, 201))
    stub.route("POST", "/containers/[^/]+/start", lambda r: Reply(204))
    res = berth("run", "-d", "busybox", "sleep", "9")
    assert (res.rc, res.out) == (0, CID + "\n")
    assert stub.find("POST", "/containers/create")[0].json()["Cmd"] == ["sleep", "9"]


def test_create_and_run_failures(stub: StubDaemon, berth: Berth) -> None:
    stub.route("POST", "/containers/create", lambda r: error_reply(400, "invalid mount config"))
    res = berth("create", "busybox")  # docker: plain message, status 1
    assert (res.rc, res.err) == (1, "Error response from daemon: invalid mount config\n")
    res = berth("run", "busybox")  # docker: "docker: …" and status 125
    assert (res.rc, res.err) == (
        125,
        "berth: Error response from daemon: invalid mount config\n\nRun 'berth run --help' for more information\n",
    )


def test_exec_exit_code_and_body(stub: StubDaemon, berth: Berth) -> None:
    stub.route(
        "GET",
        "/containers/web/json",
        lambda r: json_reply({"Id": CID, "State": {"Running": True}, "Config": {}}),
    )
    stub.route("POST", "/containers/web/exec", lambda r: json_reply({"Id": "e1"}, 201))

    def start(sock: socket.socket) -> None:
        sock.sendall(encode_frame(1, b"in container\n"))
        sock.close()

    stub.route("POST", "/exec/e1/start", lambda r: Reply(200, hijack=start))
    stub.route("GET", "/exec/e1/json", lambda r: json_reply({"ExitCode": 3, "Running": False}))
    res = berth("exec", "-e", "A=1", "-w", "/tmp", "-u", "nobody", "web", "sh", "-c", "exit 3")
    assert (res.rc, res.out) == (3, "in container\n")
    body = stub.find("POST", "/containers/web/exec")[0].json()
    assert body["Cmd"] == ["sh", "-c", "exit 3"] and body["Env"] == ["A=1"]
    assert body["WorkingDir"] == "/tmp" and body["User"] == "nobody" and body["AttachStdout"] is True
    assert stub.find("POST", "/exec/e1/start")[0].json() == {"Detach": False, "Tty": False}


def test_logs_demultiplexes(stub: StubDaemon, berth: Berth) -> None:
    stub.route("GET", "/containers/web/json", lambda r: json_reply({"Id": CID, "Config": {"Tty": False}}))
    frames = encode_frame(1, b"one\n") + encode_frame(2, b"two\n")
    stub.route(
        "GET",
        "/containers/web/logs",
        lambda r: Reply(
            200,
            [frames[:5], frames[5:]],
            chunked=True,
            headers={"Content-Type": "application/vnd.docker.multiplexed-stream"},
        ),
    )
    res = berth("logs", "--tail", "5", "-t", "web")
    assert (res.rc, res.out, res.err) == (0, "one\n", "two\n")
    req = stub.find("GET", "/logs")[0]
    assert req.q("tail") == "5" and req.q("timestamps") == "1" and req.q("stdout") == "1"


def test_generic_inspect_fallback_chain(stub: StubDaemon, berth: Berth) -> None:
    res = berth("inspect", "ghost")
    assert (res.rc, res.out, res.err) == (1, "[]\n", "Error: No such object: ghost\n")
    paths = [r.path for r in stub.requests if r.method == "GET"]
    assert paths == [
        "/v1.50/containers/ghost/json",
        "/v1.50/images/ghost/json",
        "/v1.50/networks/ghost",
        "/v1.50/volumes/ghost",
    ]


def test_inspect_format(stub: StubDaemon, berth: Berth) -> None:
    stub.route(
        "GET", "/images/busybox/json", lambda r: json_reply({"Id": "sha256:x", "Config": {"Cmd": ["sh"]}})
    )
    res = berth("inspect", "-f", "{{.Id}} {{json .Config.Cmd}}", "busybox")
    assert (res.rc, res.out) == (0, 'sha256:x ["sh"]\n')
    res = berth("image", "inspect", "busybox")
    assert json.loads(res.out) == [{"Id": "sha256:x", "Config": {"Cmd": ["sh"]}}]


def test_multi_rm_reports_each_failure(stub: StubDaemon, berth: Berth) -> None:
    stub.route("DELETE", "/containers/ok", lambda r: Reply(204))
    stub.route("DELETE", "/containers/bad", lambda r: error_reply(404, "No such container: bad"))
    res = berth("rm", "-f", "ok", "bad")
    assert (res.rc, res.out, res.err) == (1, "ok\n", "Error response from daemon: No such container: bad\n")
    assert stub.find("DELETE", "/containers/ok")[0].q("force") == "1"


def test_cannot_connect(berth: Berth, tmp_path: object) -> None:
    host = f"unix://{tmp_path}/none.sock"
    res = berth("ps", env={"BERTH_HOST": host})
    assert res.rc == 1
    assert res.err == f"Cannot connect to the Berth daemon at {host}. Is berthd running?\n"


def test_host_flag_wins_over_env(stub: StubDaemon, berth: Berth) -> None:
    stub.route("GET", "/containers/json", _containers)
    res = berth("-H", stub.host, "ps", "-q", env={"BERTH_HOST": "unix:///nonexistent.sock"})
    assert res.rc == 0 and res.out == "aaaaaaaaaaaa\n"


def test_login_stores_auth_and_pull_sends_it(stub: StubDaemon, berth: Berth, tmp_path: object) -> None:
    stub.route("POST", "/auth", lambda r: json_reply({"Status": "Login Succeeded", "IdentityToken": ""}))
    stub.route(
        "POST", "/images/create", lambda r: Reply(200, [b'{"status":"Digest: sha256:1"}\r\n'], chunked=True)
    )
    res = berth("login", "-u", "alice", "--password-stdin", "localhost:5000", stdin=b"s3cret\n")
    assert (res.rc, res.out) == (0, "Login Succeeded\n"), res.err
    assert stub.find("POST", "/auth")[0].json() == {
        "username": "alice",
        "password": "s3cret",
        "serveraddress": "localhost:5000",
    }
    with open(os.path.join(str(tmp_path), "config", "config.json")) as fh:
        saved = json.load(fh)
    assert saved["auths"]["localhost:5000"]["auth"] == base64.b64encode(b"alice:s3cret").decode()
    res = berth("pull", "localhost:5000/team/app:1")
    assert res.rc == 0 and res.out.endswith("localhost:5000/team/app:1\n")
    pull = stub.find("POST", "/images/create")[0]
    assert pull.q("fromImage") == "localhost:5000/team/app" and pull.q("tag") == "1"
    assert decode_header(pull.headers["x-registry-auth"]) == {
        "serveraddress": "localhost:5000",
        "username": "alice",
        "password": "s3cret",
    }
    assert berth("logout", "localhost:5000").out == "Removing login credentials for localhost:5000\n"


def test_import_sends_changes(stub: StubDaemon, berth: Berth, tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "rootfs.tar")
    with open(path, "wb") as fh:
        fh.write(b"\0" * 1024)
    stub.route("POST", "/images/create", lambda r: json_reply({"status": "sha256:" + "e" * 64}))
    res = berth("import", "-c", 'CMD ["sh"]', "-m", "hello", path, "base:1")
    assert (res.rc, res.out) == (0, "sha256:" + "e" * 64 + "\n"), res.err
    req = stub.find("POST", "/images/create")[0]
    assert req.q("fromSrc") == "-" and req.q("repo") == "base:1" and req.query["changes"] == ['CMD ["sh"]']
    assert req.q("message") == "hello" and len(req.body) == 1024


def test_version_and_help(stub: StubDaemon, berth: Berth) -> None:
    stub.route(
        "GET",
        "/version",
        lambda r: json_reply(
            {
                "Version": "0.1.0",
                "ApiVersion": "1.50",
                "MinAPIVersion": "1.24",
                "Os": "linux",
                "Arch": "amd64",
                "Platform": {"Name": "Berth"},
            }
        ),
    )
    res = berth("version")
    assert res.rc == 0 and " API version:      1.50 (minimum version 1.24)" in res.out
    assert berth("version", "--format", "{{.Server.ApiVersion}}").out == "1.50\n"
    assert berth("version", "--format", "{{.Server.APIVersion}}").out == "1.50\n"  # docker's Go name
    for cmd in (["ps"], ["run"], ["image", "ls"], ["network", "create"], ["bootstrap", "busybox"]):
        help_text = berth(*cmd, "--help")
        assert help_text.rc == 0 and "Examples:" in help_text.out, cmd


def test_usage_errors(berth: Berth) -> None:
    res = berth("ps", "--bogus")
    assert res.rc == 125 and res.err.startswith("unknown flag: --bogus")
    res = berth("frobnicate")
    assert res.rc == 1 and "unknown command" in res.err
