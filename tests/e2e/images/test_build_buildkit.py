"""Dockerfiles in BuildKit's syntax through ``POST /build``: ``RUN --mount`` of every type, ``RUN
--network``, secrets (never in a layer, the history or the config), driven by the docker CLI, docker-py
and ``berth build``; each check looks inside the built image or at what the step saw."""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import tarfile
import threading
from pathlib import Path

import docker
import pytest

from tests.e2e.conftest import Daemon

pytestmark = [pytest.mark.root, pytest.mark.docker_cli]


@pytest.fixture
def builder(berthd: Daemon, busybox_image: str) -> Daemon:
    """berthd with busybox; its docker CLI on the POST /build route (no buildx here)."""
    berthd.env["DOCKER_BUILDKIT"] = "0"
    return berthd


def _ctx(tmp_path: Path, files: dict[str, str], name: str = "ctx") -> Path:
    ctx = tmp_path / name
    ctx.mkdir()
    for path, text in files.items():
        (ctx / path).parent.mkdir(parents=True, exist_ok=True)
        (ctx / path).write_text(text)
    return ctx


def _build(daemon: Daemon, ctx: Path, *flags: str) -> str:
    result = daemon.berth("build", "-q", *flags, str(ctx))
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout.strip()


def _run(daemon: Daemon, image: str, script: str) -> str:
    result = daemon.berth("run", "--rm", image, "sh", "-c", script)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _layer_files(daemon: Daemon, image: str) -> dict[str, bytes]:
    """Every file of every layer of ``image`` (from ``save``), by path: what the image carries."""
    client = docker.APIClient(base_url=daemon.host, version="auto", timeout=120)
    try:
        saved = b"".join(client.get_image(image))
    finally:
        client.close()
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(saved)) as outer:
        for member in outer.getmembers():
            if not member.isfile():
                continue
            data = outer.extractfile(member).read()  # type: ignore[union-attr]
            try:
                inner = tarfile.open(fileobj=io.BytesIO(data))
            except tarfile.TarError:
                files[member.name] = data  # the config and manifest
                continue
            with inner:
                for entry in inner.getmembers():
                    files[entry.name] = inner.extractfile(entry).read() if entry.isfile() else b""  # type: ignore[union-attr]
    return files


def test_bind_mounts_read_the_context_without_copying_it(builder: Daemon, tmp_path: Path) -> None:
    ctx = _ctx(
        tmp_path,
        {
            "Dockerfile": (
                "FROM busybox\n"
                "RUN --mount=target=/src cat /src/data/a.txt > /seen && ls /src > /listing\n"
                "RUN --mount=type=bind,source=data,target=/d,rw echo changed > /d/a.txt && cat /d/a.txt > /rw\n"
                "RUN --mount=type=bind,source=data/a.txt,target=/one.txt cp /one.txt /copied\n"
                "RUN --mount=target=/ro touch /ro/x 2> /dev/null || echo read-only > /ro-result\n"
            ),
            "data/a.txt": "from the context\n",
        },
    )
    image = _build(builder, ctx)
    out = _run(builder, image, "cat /seen /rw /copied /ro-result; ls /src /d /one.txt /ro 2>&1; true")
    assert "from the context\nchanged\nfrom the context\nread-only\n" in out
    assert "No such file" in out  # the mount points left no trace
    assert (ctx / "data/a.txt").read_text() == "from the context\n"  # rw writes were discarded


def test_bind_mounts_from_a_stage_and_tmpfs(builder: Daemon, tmp_path: Path) -> None:
    ctx = _ctx(
        tmp_path,
        {
            "Dockerfile": (
                "FROM busybox AS tools\nRUN echo tool > /tool.txt\n"
                "FROM busybox\n"
                "RUN --mount=type=bind,from=tools,source=/tool.txt,target=/t cat /t > /from-stage\n"
                "RUN --mount=type=tmpfs,target=/scratch,size=1m "
                "grep /scratch /proc/mounts | cut -d' ' -f3 > /fstype && echo x > /scratch/y\n"
            ),
        },
    )
    image = _build(builder, ctx)
    out = _run(builder, image, "cat /from-stage /fstype; ls /scratch 2>&1; true")
    assert out.startswith("tool\ntmpfs\n") and "No such file" in out


def test_secrets_reach_the_step_and_nothing_else(builder: Daemon, tmp_path: Path) -> None:
    value = "s3cr3t-value-0123"
    (tmp_path / "token").write_text(value)
    ctx = _ctx(
        tmp_path,
        {
            "Dockerfile": (
                "FROM busybox\n"
                "RUN --mount=type=secret,id=token cat /run/secrets/token | wc -c > /size && "
                "stat -c %a /run/secrets/token > /mode\n"
                "RUN --mount=type=secret,id=token,target=/etc/tok,mode=0440,uid=1,gid=2 "
                "stat -c '%a %u %g' /etc/tok > /owned\n"
                "RUN --mount=type=secret,id=API,env=API_KEY echo \"$API_KEY\" | sha256sum | cut -c1-16 > /env\n"
                "RUN --mount=type=secret,id=absent ls /run/secrets > /absent 2>&1 || echo none > /absent\n"
            ),
        },
    )
    builder.env["API"] = "value-of-an-env-secret"
    image = _build(builder, ctx, "--secret", f"id=token,src={tmp_path / 'token'}", "--secret", "id=API")
    out = _run(builder, image, "cat /size /mode /owned /env /absent; ls /run/secrets /etc/tok 2>&1; true")
    env_digest = hashlib.sha256(b"value-of-an-env-secret\n").hexdigest()[:16]
    assert out.split()[:7] == [str(len(value)), "400", "440", "1", "2", env_digest, "none"], out
    assert out.count("No such file") == 2
    files = _layer_files(builder, image)
    assert not any(value.encode() in data or b"value-of-an-env" in data for data in files.values())
    history = builder.berth("history", "--no-trunc", "--format", "{{.CreatedBy}}", image, check=True).stdout
    assert value not in history and "value-of-an-env" not in history and "id=token" in history
    # a required secret that is not given fails the step, in one line
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN --mount=type=secret,id=nope,required true\n")
    missing = builder.berth("build", str(ctx))
    assert missing.returncode == 1 and "secret nope not found" in missing.stderr


def test_run_network_none_has_only_loopback(builder: Daemon, tmp_path: Path) -> None:
    ctx = _ctx(
        tmp_path,
        {
            "Dockerfile": (
                "FROM busybox\n"
                "RUN --network=none ls /sys/class/net > /none\n"
                "RUN --network=default ls /sys/class/net > /default\n"
                "RUN --network=host ls /sys/class/net > /host\n"
            )
        },
    )
    image = _build(builder, ctx)
    out = _run(builder, image, "echo; cat /none; echo --; cat /default; echo --; cat /host")
    none, default, host = out.strip().split("--")
    assert none.split() == ["lo"]
    assert "eth0" in default.split()
    assert set(host.split()) >= set(os.listdir("/sys/class/net"))
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN --network=bridge true\n")
    refused = builder.berth("build", str(ctx))
    assert refused.returncode == 1 and "unsupported network mode 'bridge'" in refused.stderr


def test_mount_options_are_checked_in_buildkits_words(builder: Daemon, tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, {"Dockerfile": "FROM busybox\n"})
    for line, message in [
        ("RUN --mount=type=bind,target=/x,colour=red true", "unexpected key 'colour' for mount type bind"),
        ("RUN --mount=type=nfs,target=/x true", "unsupported mount type 'nfs'"),
        ("RUN --mount=type=cache,target=/x,sharing=maybe true", "unsupported sharing value 'maybe'"),
        ("RUN --mount=type=tmpfs true", "mount type tmpfs requires a target"),
        ("RUN --mount=type=bind,source=missing,target=/x true", "missing not found in the build context"),
        ("RUN --security=insecure true", "RUN --security=insecure is not supported"),
    ]:
        (ctx / "Dockerfile").write_text(f"FROM busybox\n{line}\n")
        result = builder.docker("build", str(ctx))
        assert result.returncode != 0 and message in result.stderr, (line, result.stderr)


def test_ssh_agent_socket_is_forwarded(builder: Daemon, tmp_path: Path) -> None:
    agent = tmp_path / "agent.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(agent))
    server.listen(1)
    got: list[bytes] = []

    server.settimeout(60)

    def answer() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return  # closed: the step never connected
        with conn:
            got.append(conn.recv(100))
            conn.sendall(b"agent says hi")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    ctx = _ctx(
        tmp_path,
        {
            "Dockerfile": (
                "FROM busybox\n"
                'RUN --mount=type=ssh echo "$SSH_AUTH_SOCK" > /sock && '
                'echo hello | nc -U -w 2 "$SSH_AUTH_SOCK" > /reply || true\n'
            )
        },
    )
    try:
        image = _build(builder, ctx, "--ssh", f"default={agent}")
    finally:
        thread.join(5)
        server.close()
    out = _run(builder, image, "cat /sock; cat /reply 2>&1; ls /run/buildkit 2>&1; true")
    assert out.startswith("/run/buildkit/ssh_agent.0\n"), out
    if got:  # busybox nc may lack -U: the socket was there (above); the exchange when it can
        assert "agent says hi" in out


def test_docker_py_sees_run_mounts_through_the_same_route(builder: Daemon, tmp_path: Path) -> None:
    ctx = _ctx(
        tmp_path,
        {"Dockerfile": "FROM busybox\nRUN --mount=target=/c cat /c/f > /copied\n", "f": "via docker-py\n"},
    )
    client = docker.DockerClient(base_url=builder.host, version="auto", timeout=120)
    try:
        image, logs = client.images.build(path=str(ctx), rm=True)
        output = client.containers.run(image.id, ["cat", "/copied"], remove=True)
    finally:
        client.close()
    assert output == b"via docker-py\n"
    assert any("Running in" in json.dumps(line) for line in logs)


def test_copy_chmod_exclude_parents_and_link(builder: Daemon, tmp_path: Path) -> None:
    ctx = _ctx(
        tmp_path,
        {
            "Dockerfile": (
                "FROM busybox\n"
                "COPY --chmod=751 run.sh /bin/run.sh\n"
                "COPY --chmod=u=rwX,go=rX tree /sym/\n"
                "COPY --exclude=**/*.log --exclude=cache tree /ex/\n"
                "COPY --parents tree/a/one.txt tree/b/*.txt /par/\n"
                "COPY --parents tree/./a/one.txt /pivot/\n"
                "COPY --link --chown=1:2 run.sh /linked.sh\n"
            ),
            "run.sh": "#!/bin/sh\necho run\n",
            "tree/a/one.txt": "1\n",
            "tree/a/debug.log": "log\n",
            "tree/b/two.txt": "2\n",
            "tree/cache/big.bin": "x\n",
        },
    )
    os.chmod(ctx / "run.sh", 0o600)
    os.chmod(ctx / "tree/b/two.txt", 0o700)
    image = _build(builder, ctx)
    out = _run(
        builder,
        image,
        "stat -c '%a %n' /bin/run.sh /sym/a /sym/a/one.txt /sym/b/two.txt; "
        "cd /ex && find . | sort; cd /par && find . -type f | sort; cd /pivot && find . -type f; "
        "stat -c '%u:%g' /linked.sh",
    )
    lines = out.split("\n")
    assert lines[:4] == ["751 /bin/run.sh", "755 /sym/a", "644 /sym/a/one.txt", "755 /sym/b/two.txt"], out
    assert "./a/debug.log" not in out and "./cache" not in out and "./a/one.txt" in out and "./b/two.txt" in out
    assert "./tree/a/one.txt\n./tree/b/two.txt\n" in out
    assert "./a/one.txt\n1:2" in out  # the pivot dropped tree/
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY --chmod=u+q run.sh /x\n")
    refused = builder.docker("build", str(ctx))
    assert refused.returncode != 0 and "invalid chmod parameter" in refused.stderr


def test_stages_the_target_does_not_need_are_not_built(builder: Daemon, tmp_path: Path) -> None:
    ctx = _ctx(
        tmp_path,
        {
            "Dockerfile": (
                "FROM busybox AS broken\nRUN exit 3\n"
                "FROM busybox AS base\nRUN echo base > /base\n"
                "FROM busybox AS unused\nRUN exit 4\n"
                "FROM busybox AS helper\nRUN echo helper > /helper\n"
                "FROM base\nCOPY --from=3 /helper /helper\nRUN cat /base /helper > /both\n"
            )
        },
    )
    result = builder.docker("build", "-t", "graph", str(ctx))
    assert result.returncode == 0, result.stderr
    assert "exit 3" not in result.stdout and "exit 4" not in result.stdout
    assert _run(builder, "graph", "cat /both") == "base\nhelper\n"
    # --target picks a stage; what it needs is built, a failing stage after it is not
    target = builder.docker("build", "--target", "helper", "-t", "helper-only", str(ctx))
    assert target.returncode == 0, target.stderr
    assert "echo base" not in target.stdout and _run(builder, "helper-only", "cat /helper") == "helper\n"


def test_platform_args_are_defined_as_buildkit_defines_them(builder: Daemon, tmp_path: Path) -> None:
    import platform as host

    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(host.machine(), host.machine())
    ctx = _ctx(
        tmp_path,
        {
            "Dockerfile": (
                "ARG BASE=busybox\n"
                "FROM --platform=$BUILDPLATFORM ${BASE}\n"
                "ARG TARGETARCH\nARG TARGETOS\nARG BUILDPLATFORM\n"
                'RUN echo "$TARGETOS/$TARGETARCH on $BUILDPLATFORM [$TARGETVARIANT]" > /platform\n'
            )
        },
    )
    image = _build(builder, ctx)
    assert _run(builder, image, "cat /platform") == f"linux/{arch} on linux/{arch} []\n"
    other = "linux/s390x" if arch != "s390x" else "linux/amd64"
    (ctx / "Dockerfile").write_text(f"FROM --platform={other} busybox\nRUN true\n")
    refused = builder.docker("build", str(ctx))
    assert refused.returncode != 0 and "this daemon builds only for its own platform" in refused.stderr
