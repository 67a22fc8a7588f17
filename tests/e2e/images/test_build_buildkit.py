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
from collections.abc import Iterator
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
            if member.isfile():
                data = outer.extractfile(member).read()  # type: ignore[union-attr]
                files[member.name] = data  # the config and manifest (and the layer tars)
                if member.name.endswith(".tar") or member.name.startswith("blobs/"):
                    files.update(_tar_files(data))
    return files


def _tar_files(data: bytes) -> dict[str, bytes]:
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as inner:
            return {
                e.name: inner.extractfile(e).read() if e.isfile() else b""  # type: ignore[union-attr]
                for e in inner.getmembers()
            }
    except tarfile.TarError:
        return {}


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
                'RUN --mount=type=secret,id=API,env=API_KEY echo "$API_KEY" | sha256sum | cut -c1-16 > /env\n'
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
    assert files.get("size") == f"{len(value)}\n".encode()  # the layers were read
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
    assert (
        "./a/debug.log" not in out and "./cache" not in out and "./a/one.txt" in out and "./b/two.txt" in out
    )
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


def test_heredocs_run_and_copy_as_buildkit_runs_them(builder: Daemon, tmp_path: Path) -> None:
    dockerfile = (
        "# syntax=docker/dockerfile:1\n"
        "FROM busybox\n"
        "ENV NAME=berth\n"
        "RUN <<EOF\n"
        "echo one > /one\n"
        'echo "$NAME" >> /one\n'
        "EOF\n"
        "RUN <<-EOF\n"
        "\techo tabs stripped > /tabs\n"
        "\tEOF\n"
        "RUN cat > /two <<A && cat > /three <<'B'\n"
        "from A $NAME\n"
        "A\n"
        "from B $NAME\n"
        "B\n"
        "RUN <<EOF\n"
        "#!/bin/sh\n"
        'echo "shebang $0" > /shebang\n'
        "EOF\n"
        "COPY <<EOF /etc/expanded.conf\n"
        "name=${NAME}\n"
        "EOF\n"
        "COPY <<'EOF' <<second.txt /docs/\n"
        "kept $NAME\n"
        "EOF\n"
        "second\n"
        "second.txt\n"
        "COPY --chmod=600 <<EOF /secret.conf\n"
        "x\n"
        "EOF\n"
    )
    ctx = _ctx(tmp_path, {"Dockerfile": dockerfile})
    result = builder.docker("build", "-t", "heredocs", str(ctx))
    assert result.returncode == 0, result.stderr
    out = _run(
        builder,
        "heredocs",
        "cat /one /tabs /two /three /shebang /etc/expanded.conf /docs/EOF /docs/second.txt; "
        "stat -c %a /etc/expanded.conf /secret.conf",
    )
    assert out == (
        "one\nberth\ntabs stripped\nfrom A berth\nfrom B $NAME\nshebang /dev/pipes/EOF\n"
        "name=berth\nkept $NAME\nsecond\n644\n600\n"
    ), out
    # the body is part of the step: a changed body runs again, an unchanged one is cached
    again = builder.docker("build", "-t", "heredocs", str(ctx))
    assert again.stdout.count("Using cache") >= 7, again.stdout
    (ctx / "Dockerfile").write_text(dockerfile.replace("echo one", "echo uno"))
    changed = builder.docker("build", "-t", "heredocs", str(ctx))
    assert changed.returncode == 0 and _run(builder, "heredocs", "head -1 /one") == "uno\n"


def _git(repo: Path, *args: str) -> str:
    import subprocess

    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


@pytest.fixture
def local_git_builder() -> Iterator[Daemon]:
    """A berthd that takes ``file://`` git sources (BERTH_BUILD_FILE_GIT=1: tests only, the host's
    repositories are not a build's to read otherwise)."""
    from tests.e2e.conftest import daemon_with

    os.environ["BERTH_BUILD_FILE_GIT"] = "1"
    try:
        with daemon_with() as daemon:
            os.environ.pop("BERTH_BUILD_FILE_GIT", None)
            daemon.env["DOCKER_BUILDKIT"] = "0"
            yield daemon
    finally:
        os.environ.pop("BERTH_BUILD_FILE_GIT", None)


def test_add_of_a_git_repository_and_checksums(local_git_builder: Daemon, tmp_path: Path) -> None:
    import functools
    import http.server

    repo = tmp_path / "repo.git"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "README").write_text("v1\n")
    (repo / "sub").mkdir()
    (repo / "sub/inner.txt").write_text("inner\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "one")
    _git(repo, "tag", "v1")
    (repo / "README").write_text("v2\n")
    _git(repo, "commit", "-q", "-am", "two")
    head = _git(repo, "rev-parse", "HEAD")
    web = tmp_path / "web"
    web.mkdir()
    (web / "file.txt").write_text("served\n")
    digest = hashlib.sha256(b"served\n").hexdigest()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(web))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/file.txt"
    ctx = _ctx(
        tmp_path,
        {
            "Dockerfile": (
                "FROM busybox\n"
                f"ADD file://{repo} /src\n"
                f"ADD file://{repo}#v1:sub /v1sub\n"
                f"ADD --keep-git-dir file://{repo}#v1 /kept\n"
                f"ADD --checksum={head[:12]} file://{repo} /pinned\n"
                f"ADD --checksum=sha256:{digest} {url} /checked.txt\n"
            )
        },
    )
    try:
        built = local_git_builder.docker("build", "-t", "gitty", str(ctx))
        assert built.returncode == 0, built.stderr
        out = _run(
            local_git_builder,
            "gitty",
            "cat /src/README /v1sub/inner.txt /pinned/README /checked.txt; ls -a /src | grep -c .git; "
            "cat /kept/.git/HEAD",
        )
        lines = out.split("\n")
        assert lines[:5] == ["v2", "inner", "v2", "served", "0"], out
        assert len(lines[5]) == 40  # a detached HEAD at the tag's commit
        (ctx / "Dockerfile").write_text(f"FROM busybox\nADD --checksum=sha256:{'0' * 64} {url} /x\n")
        wrong = local_git_builder.docker("build", str(ctx))
        assert wrong.returncode != 0 and "digest mismatch" in wrong.stderr
        (ctx / "Dockerfile").write_text(f"FROM busybox\nADD file://{repo}#nope /x\n")
        missing = local_git_builder.docker("build", str(ctx))
        assert missing.returncode != 0 and "couldn't find remote ref nope" in missing.stderr
        (ctx / "Dockerfile").write_text("FROM busybox\nCOPY --checksum=sha256:00 f /x\n")
        copy = local_git_builder.docker("build", str(ctx))
        assert copy.returncode != 0 and "Unknown flag: checksum" in copy.stderr
    finally:
        server.shutdown()
        server.server_close()


def test_cache_mounts_persist_across_builds_and_stay_out_of_the_image(
    builder: Daemon, tmp_path: Path
) -> None:
    ctx = _ctx(
        tmp_path,
        {
            "Dockerfile": (
                "FROM busybox AS seed\nRUN mkdir /s && echo seeded > /s/first\n"
                "FROM busybox\nARG RUN_ID\n"
                "RUN --mount=type=cache,target=/root/.cache "
                'echo "$RUN_ID" >> /root/.cache/runs && cat /root/.cache/runs > /seen\n'
                "RUN --mount=type=cache,target=/var/cache/x,id=perm,mode=0700,uid=7,gid=8 "
                "stat -c '%a %u %g' /var/cache/x > /perm\n"
                "RUN --mount=type=cache,target=/c,from=seed,source=/s,sharing=locked cat /c/first > /seeded\n"
                "RUN --mount=type=cache,target=/p,sharing=private touch /p/mine && ls /p > /private\n"
            )
        },
    )
    first = _build(builder, ctx, "--build-arg", "RUN_ID=one")
    second = _build(builder, ctx, "--build-arg", "RUN_ID=two")
    assert _run(builder, first, "cat /seen") == "one\n"
    assert _run(builder, second, "cat /seen") == "one\ntwo\n"  # the cache outlived the first build
    out = _run(
        builder, second, "cat /perm /seeded /private; ls -A /root/.cache /var/cache/x /c /p 2>&1; true"
    )
    assert out.startswith("700 7 8\nseeded\nmine\n"), out
    assert out.count("No such file") == 4  # no mount point, no cache content in the image
    df = builder.docker("system", "df", "-v")
    assert df.returncode == 0 and df.stdout.count("exec.cachemount") >= 4, df.stdout  # four caches
    pruned = builder.docker("builder", "prune", "-af")
    assert pruned.returncode == 0 and "Total reclaimed space" in pruned.stdout
    third = _build(builder, ctx, "--build-arg", "RUN_ID=three")
    assert _run(builder, third, "cat /seen") == "three\n"  # pruned: a fresh cache


def test_syntax_directives_and_a_dockerfile_specific_ignore_file(builder: Daemon, tmp_path: Path) -> None:
    ctx = _ctx(
        tmp_path,
        {
            "docker/app.Dockerfile": "# syntax=docker/dockerfile:1.7-labs\n# check=skip=all\nFROM busybox\nCOPY . /ctx\n",
            "docker/app.Dockerfile.dockerignore": "**/*.tmp\nsecret*\n!secret-ok.txt\n",
            ".dockerignore": "keep.txt\n",
            "keep.txt": "k\n",
            "a/b/c.tmp": "t\n",
            "a/b/d.txt": "d\n",
            "secret.key": "s\n",
            "secret-ok.txt": "ok\n",
        },
    )
    result = builder.berth("build", "-t", "ignored", "-f", str(ctx / "docker/app.Dockerfile"), str(ctx))
    assert result.returncode == 0, result.stderr
    assert "# syntax=" not in result.stdout  # BuildKit's own syntax: nothing to say
    listing = _run(builder, "ignored", "cd /ctx && find . -type f | sort")
    assert "./keep.txt" in listing and "./a/b/d.txt" in listing and "./secret-ok.txt" in listing
    assert "c.tmp" not in listing and "secret.key" not in listing
    (ctx / "Dockerfile").write_text("# syntax=example.com/frontend:2\nFROM busybox\n")
    other = builder.docker("build", str(ctx))
    assert other.returncode == 0 and "# syntax=example.com/frontend:2: not pulled or run" in other.stdout


def test_errors_name_the_dockerfile_line_and_instruction(builder: Daemon, tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, {"Dockerfile": "FROM busybox\nENV A=1\nCOPY missing.txt /x\n"})
    result = builder.berth("build", str(ctx))
    assert result.returncode == 1
    assert "Dockerfile:3: COPY missing.txt /x: COPY failed: file not found in build context" in result.stderr
    assert builder.berth("ps", "-aq", check=True).stdout == ""  # the COPY's container went


def test_copy_from_a_stage_is_cached_by_what_it_copies(builder: Daemon, tmp_path: Path) -> None:
    dockerfile = (
        'FROM busybox AS tool\nARG NOISE\nRUN echo "$NOISE" > /noise && echo tool > /tool\n'
        "FROM busybox\nCOPY --from=tool /tool /tool\nRUN echo expensive > /after\n"
    )
    ctx = _ctx(tmp_path, {"Dockerfile": dockerfile})
    _build(builder, ctx, "--build-arg", "NOISE=1")
    # the tool stage runs again (its arg changed) but makes the same /tool: the final stage is cached
    again = builder.docker("build", "--build-arg", "NOISE=2", str(ctx))
    assert again.returncode == 0, again.stderr
    final = again.stdout.split("Step 4/")[1]
    assert final.count("Using cache") == 2 and "Running in" not in final, again.stdout


def test_the_live_view_draws_stages_running_at_once(builder: Daemon, tmp_path: Path) -> None:
    ctx = _ctx(
        tmp_path,
        {
            "Dockerfile": (
                "FROM busybox AS left\nRUN echo from-left > /l\n"
                "FROM busybox AS right\nRUN echo from-right > /r\n"
                "FROM busybox\nCOPY --from=left /l /l\nCOPY --from=right /r /r\n"
            )
        },
    )
    result = builder.berth("build", "--progress=tty", "-t", "live", str(ctx))
    assert result.returncode == 0, result.stderr
    assert "[+] Building" in result.stdout
    assert (
        "[left] 2/7 RUN echo from-left" in result.stdout
        and "[right] 4/7 RUN echo from-right" in result.stdout
    )
    assert _run(builder, "live", "cat /l /r") == "from-left\nfrom-right\n"
    plain = builder.docker("build", str(ctx))  # the docker CLI still reads one stage after another
    assert (
        plain.returncode == 0
        and "[left]" not in plain.stdout
        and "Step 2/7 : RUN echo from-left" in plain.stdout
    )
