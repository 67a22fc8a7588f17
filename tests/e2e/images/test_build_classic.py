"""The classic builder as Docker 28's: ``COPY .``, symlink sources, ONBUILD triggers, SHELL for CMD and
ENTRYPOINT, images with no layers, extra hosts, ``--cache-from``, error codes, stderr in the stream,
BuildKit syntax Berth cannot honour refused, ``/build/prune``, limits on RUN, ``rm``/``forcerm``, ``pull`` and the
query parameters refused in dockerd's words. Driven by the docker CLI (``DOCKER_BUILDKIT=0``),
docker-py and ``berth build``; every check looks at the built image or the container it ran."""

from __future__ import annotations

import functools
import http.server
import io
import json
import os
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.e2e.conftest import DOCKER, Daemon

pytestmark = [pytest.mark.root, pytest.mark.docker_cli]


@pytest.fixture
def classic(berthd: Daemon, busybox_image: str) -> Daemon:
    """berthd with busybox, its docker CLI on the classic builder."""
    berthd.env["DOCKER_BUILDKIT"] = "0"
    return berthd


@pytest.fixture
def api(classic: Daemon) -> Iterator[docker.APIClient]:
    client = docker.APIClient(base_url=classic.host, version="auto", timeout=120)
    try:
        yield client
    finally:
        client.close()


def _ctx(tmp_path: Path, files: dict[str, str], name: str = "ctx") -> Path:
    ctx = tmp_path / name
    ctx.mkdir()
    for path, text in files.items():
        (ctx / path).parent.mkdir(parents=True, exist_ok=True)
        (ctx / path).write_text(text)
    return ctx


def _run(daemon: Daemon, image: str, script: str) -> str:
    result = daemon.berth("run", "--rm", image, "sh", "-c", script)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _inspect(daemon: Daemon, fmt: str, image: str) -> str:
    return daemon.berth("image", "inspect", "--format", fmt, image, check=True).stdout.strip()


def _stream(api: docker.APIClient, path: Path, **options: Any) -> list[dict[str, Any]]:
    return list(api.build(path=str(path), decode=True, **options))


def test_copy_of_the_whole_context_in_every_spelling_keeps_dockerignore(
    classic: Daemon, api: docker.APIClient, tmp_path: Path
) -> None:
    ctx = _ctx(
        tmp_path,
        {
            "Dockerfile": "FROM busybox\nCOPY . /app\nADD . /x\nCOPY ./ /y\nWORKDIR /w\nCOPY . .\n",
            ".dockerignore": "secret.txt\nDockerfile\n.dockerignore\n",
            "a.txt": "a\n",
            "sub/b.txt": "b\n",
            "secret.txt": "no\n",
        },
    )
    script = "for d in /app /x /y /w; do echo $d: $(ls -A $d); done; cat /w/sub/b.txt"
    want = "/app: a.txt sub\n/x: a.txt sub\n/y: a.txt sub\n/w: a.txt sub\nb\n"
    built = classic.docker("build", "-t", "dot:cli", str(ctx))
    assert built.returncode == 0, built.stderr
    assert _run(classic, "dot:cli", script) == want
    assert classic.berth("build", "-t", "dot:berth", str(ctx)).returncode == 0
    assert _run(classic, "dot:berth", script) == want
    _stream(api, ctx, tag="dot:py")
    assert _run(classic, "dot:py", script) == want


def test_a_symlink_named_as_source_is_followed_and_links_inside_stay_links(
    classic: Daemon, tmp_path: Path
) -> None:
    ctx = _ctx(tmp_path, {"real/f.txt": "content\n"})
    os.symlink("f.txt", ctx / "real" / "inner")
    os.symlink("real", ctx / "link-to-dir")
    os.symlink("/real/f.txt", ctx / "link-to-file")  # absolute: resolved inside the context
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY link-to-dir /dst\nCOPY link-to-file /files/\n")
    built = classic.docker("build", "-t", "links", str(ctx))
    assert built.returncode == 0, built.stderr
    shown = _run(
        classic, "links", "stat -c '%F %n' /dst /dst/f.txt /dst/inner /files/link-to-file; cat /files/*"
    )
    assert shown == (
        "directory /dst\nregular file /dst/f.txt\nsymbolic link /dst/inner\n"
        "regular file /files/link-to-file\ncontent\n"
    )


def test_onbuild_triggers_run_in_the_child_build_which_does_not_keep_them(
    classic: Daemon, tmp_path: Path
) -> None:
    parent = _ctx(
        tmp_path,
        {"Dockerfile": "FROM busybox\nONBUILD RUN echo triggered > /t\nONBUILD COPY f.txt /f\n"},
        "parent",
    )
    assert classic.docker("build", "-t", "withtriggers", str(parent)).returncode == 0
    child = _ctx(
        tmp_path, {"Dockerfile": "FROM withtriggers\nRUN cat /t /f\n", "f.txt": "from child\n"}, "child"
    )
    built = classic.docker("build", "-t", "child", str(child))
    assert built.returncode == 0, built.stderr
    assert "# Executing 2 build triggers\n" in built.stdout
    assert "triggered\nfrom child\n" in built.stdout
    assert _run(classic, "child", "cat /t /f") == "triggered\nfrom child\n"
    assert _inspect(classic, "{{len .Config.OnBuild}}", "withtriggers") == "2"
    assert _inspect(classic, "{{json .Config.OnBuild}}", "child") in ("null", "[]")


def test_shell_form_cmd_and_entrypoint_use_the_current_shell(
    classic: Daemon, api: docker.APIClient, tmp_path: Path
) -> None:
    ctx = _ctx(tmp_path, {"Dockerfile": 'FROM busybox\nSHELL ["ls"]\nCMD -l\n'})
    assert classic.docker("build", "-t", "lsl", str(ctx)).returncode == 0
    assert _inspect(classic, "{{json .Config.Cmd}}", "lsl") == '["ls","-l"]'
    (ctx / "Dockerfile").write_text(
        'FROM busybox\nSHELL ["/bin/sh", "-xc"]\nRUN echo hi\nENTRYPOINT echo from entry\n'
        "HEALTHCHECK CMD true\n"
    )
    _stream(api, ctx, tag="xc")
    shown = _inspect(classic, "{{json .Config.Entrypoint}} {{json .Config.Healthcheck.Test}}", "xc")
    assert shown == '["/bin/sh","-xc","echo from entry"] ["CMD-SHELL","true"]'
    history = classic.berth("history", "--no-trunc", "--format", "{{.CreatedBy}}", "xc", check=True).stdout
    assert "/bin/sh -xc echo hi" in history


def test_from_scratch_with_only_config_makes_an_image_with_no_layers(
    classic: Daemon, api: docker.APIClient, tmp_path: Path
) -> None:
    ctx = _ctx(tmp_path, {"Dockerfile": "FROM scratch\nARG V=1\n"})
    built = classic.docker("build", "-t", "onlyarg", str(ctx))
    assert built.returncode == 0, built.stderr
    assert _inspect(classic, "{{len .RootFS.Layers}}", "onlyarg") == "0"
    history = classic.docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", "onlyarg", check=True)
    assert history.stdout == "/bin/sh -c #(nop)  ARG V=1\n"
    (ctx / "Dockerfile").write_text("FROM scratch\nLABEL a=b\nENV X=1\n")
    lines = _stream(api, ctx, tag="nolayers:1")
    assert not [line for line in lines if "error" in line], lines
    shown = _inspect(
        classic, "{{len .RootFS.Layers}} {{json .Config.Labels}} {{json .Config.Env}}", "nolayers:1"
    )
    assert shown == '0 {"a":"b"} ["X=1"]'
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY f /f\n")
    (ctx / "f").write_text("f\n")
    first = classic.docker("build", "-t", "scratchcopy:1", str(ctx))
    again = classic.docker("build", "-t", "scratchcopy:2", str(ctx))  # steps on scratch are cached too
    assert first.returncode == 0 and "Using cache" not in first.stdout, first.stderr
    assert again.stdout.count(" ---> Using cache") == 1
    assert _inspect(classic, "{{.Id}}", "scratchcopy:1") == _inspect(classic, "{{.Id}}", "scratchcopy:2")


def test_extra_hosts_reach_run_and_cache_from_serves_a_loaded_image(classic: Daemon, tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, {"Dockerfile": "FROM busybox\nRUN cat /etc/hosts; echo ran-once > /f\nENV A=1\n"})
    built = classic.docker("build", "--add-host", "build-host:10.1.2.3", "-t", "cached", str(ctx))
    assert built.returncode == 0, built.stderr
    assert "10.1.2.3\tbuild-host" in built.stdout
    archive = tmp_path / "cached.tar"
    classic.docker("save", "-o", str(archive), "cached", check=True)
    classic.docker("rmi", "cached", check=True)  # the intermediate images (the local cache) go too
    classic.docker("load", "-i", str(archive), check=True)
    plain = classic.docker("build", "--add-host", "build-host:10.1.2.3", "-t", "plain", str(ctx))
    assert (
        "Using cache" not in plain.stdout and "10.1.2.3\tbuild-host" in plain.stdout
    )  # nothing to reuse: RUN runs
    again = classic.docker(
        "build", "--add-host", "build-host:10.1.2.3", "--cache-from", "cached", "-t", "again", str(ctx)
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.count(" ---> Using cache") == 2 and "10.1.2.3" not in again.stdout
    assert _inspect(classic, "{{.Id}}", "again") == _inspect(classic, "{{.Id}}", "cached")


def test_a_failed_run_carries_its_exit_code_and_stderr_is_in_the_stream(
    classic: Daemon, api: docker.APIClient, tmp_path: Path
) -> None:
    ctx = _ctx(tmp_path, {"Dockerfile": "FROM busybox\nRUN echo out; echo err >&2; exit 3\n"})
    lines = _stream(api, ctx, forcerm=True)
    message = "The command '/bin/sh -c echo out; echo err >&2; exit 3' returned a non-zero code: 3"
    assert lines[-1] == {"errorDetail": {"code": 3, "message": message}, "error": message}
    streamed = [line.get("stream") for line in lines]
    assert "out\n" in streamed and "\x1b[91merr\n\x1b[0m" in streamed
    cli = classic.docker("build", "--force-rm", str(ctx))
    assert cli.returncode == 3 and cli.stderr.rstrip().endswith(message), cli.stderr
    own = classic.berth("build", "--force-rm", str(ctx))
    assert own.returncode == 3 and own.stderr.strip() == message
    assert classic.berth("ps", "-aq", check=True).stdout == ""


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("ADD --checksum=sha256:0 f /f", "checksum requires HTTP(S) or Git sources"),
        ("ADD --keep-git-dir f /f", "--keep-git-dir is only valid for ADD of a git repository"),
        ("RUN --security=insecure true", "RUN --security=insecure is not supported"),
        ("ADD ftp://127.0.0.1:1/file /f", "ADD of this URL is not supported"),
        ("COPY http://127.0.0.1:1/file /f", "source can't be a URL for COPY"),
        ("RUN <<EOF\necho never ends", "unterminated heredoc"),
    ],
)
def test_buildkit_options_it_cannot_honour_are_refused_in_one_line(
    classic: Daemon, tmp_path: Path, line: str, message: str
) -> None:
    """BuildKit's syntax takes effect (test_build_buildkit.py); what cannot is refused, and builds
    nothing (an ``--security=insecure`` step would need an entitlement Berth does not grant)."""
    ctx = _ctx(tmp_path, {"Dockerfile": f"FROM busybox\n{line}\n", "f": "f\n"})
    result = classic.docker("build", "-t", "refused", str(ctx))
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert classic.berth("images", "-q", "refused", check=True).stdout == ""


@pytest.fixture
def web_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A plain HTTP server on loopback serving a directory: (base URL, directory)."""
    root = tmp_path / "web"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_add_of_an_http_url_is_downloaded_by_the_daemon(
    classic: Daemon, tmp_path: Path, web_root: tuple[str, Path]
) -> None:
    base, root = web_root
    (root / "data.tar").write_bytes(b"not unpacked, even by name\n")
    os.utime(root / "data.tar", (1_600_000_000, 1_600_000_000))
    ctx = _ctx(
        tmp_path,
        {"Dockerfile": f"FROM busybox\nADD {base}/data.tar /d/\nADD {base}/data.tar /named.txt\n"},
    )
    built = classic.docker("build", "-t", "downloaded", str(ctx))
    assert built.returncode == 0, built.stderr
    shown = _run(classic, "downloaded", "stat -c '%a %Y %n' /d/data.tar /named.txt; cat /named.txt")
    assert shown == "600 1600000000 /d/data.tar\n600 1600000000 /named.txt\nnot unpacked, even by name\n"
    (ctx / "Dockerfile").write_text(f"FROM busybox\nADD {base}/missing.txt /m\n")
    missing = classic.docker("build", str(ctx))
    assert missing.returncode == 1 and f"failed to GET {base}/missing.txt with status 404" in missing.stderr


def test_a_remote_context_url_is_downloaded_archive_or_dockerfile(
    classic: Daemon, api: docker.APIClient, web_root: tuple[str, Path]
) -> None:
    base, root = web_root
    with tarfile.open(root / "ctx.tar", "w") as tar:
        for name, data in (("Dockerfile", b"FROM busybox\nCOPY f.txt /f.txt\n"), ("f.txt", b"remote\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (root / "Dockerfile.txt").write_text("FROM busybox\nRUN echo from-a-url > /u\n")  # served as text/plain
    streamed = "".join(
        line.get("stream", "") for line in api.build(path=f"{base}/ctx.tar", tag="remote:tar", decode=True)
    )
    assert "Successfully tagged remote:tar" in streamed, streamed
    assert _run(classic, "remote:tar", "cat /f.txt") == "remote\n"
    list(api.build(path=f"{base}/Dockerfile.txt", tag="remote:df", decode=True))
    assert _run(classic, "remote:df", "cat /u") == "from-a-url\n"


def test_build_prune_answers_as_dockerd_with_the_classic_builder(
    classic: Daemon, api: docker.APIClient
) -> None:
    pruned = classic.docker("builder", "prune", "-f")
    assert pruned.returncode == 0 and "Total reclaimed space: 0B" in pruned.stdout, (
        pruned.stdout,
        pruned.stderr,
    )
    system = classic.docker("system", "prune", "-f")
    assert system.returncode == 0, system.stderr
    assert api.prune_builds() == {"CachesDeleted": None, "SpaceReclaimed": 0}


def test_run_steps_get_the_builds_limits_shm_and_network(
    classic: Daemon, api: docker.APIClient, tmp_path: Path
) -> None:
    script = (
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes "
        "/sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us; "
        "grep -o 'size=[0-9]*k' /proc/mounts | head -1"
    )
    ctx = _ctx(tmp_path, {"Dockerfile": f"FROM busybox\nRUN {script}\n"})
    built = classic.docker(
        "build", "--no-cache", "-m", "64m", "--memory-swap", "96m", "-c", "512", "--cpu-quota", "50000",
        "--cpu-period", "100000", "--shm-size", "32m", str(ctx),
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert f"\n{64 << 20}\n{96 << 20}\n512\n50000\n100000\n" in built.stdout, built.stdout
    lines = _stream(api, ctx, nocache=True, container_limits={"memory": 32 << 20, "cpushares": 256})
    assert f"{32 << 20}\n" in "".join(line.get("stream", "") for line in lines), lines


def test_run_steps_get_cpusets_ulimits_and_a_period_alone(classic: Daemon, tmp_path: Path) -> None:
    script = (
        "grep -E '^(Cpus|Mems)_allowed_list' /proc/self/status; ulimit -Sn; ulimit -Hn; "
        "cat /sys/fs/cgroup/cpu/cpu.cfs_period_us 2>/dev/null || cut -d' ' -f2 /sys/fs/cgroup/cpu.max"
    )
    ctx = _ctx(tmp_path, {"Dockerfile": f"FROM busybox\nRUN {script}\n"})
    built = classic.docker(
        "build", "--no-cache", "--cpuset-cpus", "0", "--cpuset-mems", "0", "--ulimit", "nofile=100:200",
        "--cpu-period", "50000", str(ctx),
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert "Cpus_allowed_list:\t0\nMems_allowed_list:\t0\n100\n200\n50000\n" in built.stdout, built.stdout
    cpus = len(os.sched_getaffinity(0))
    wrong = classic.docker("build", "--no-cache", "--cpuset-cpus", str(cpus + 8), str(ctx))
    assert wrong.returncode != 0 and "Requested CPUs are not available" in wrong.stderr, wrong.stderr
    bad = classic.docker("build", "--no-cache", "--ulimit", "nofile=300:200", str(ctx))
    assert bad.returncode != 0 and "soft limit" in bad.stderr, bad.stderr


def _memory_cgroup() -> Path:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return Path("/sys/fs/cgroup/memory") / path.lstrip("/")
    pytest.skip("no cgroup v1 memory controller")


def test_cgroup_parent_proxy_args_and_the_unused_build_arg_warning(classic: Daemon, tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, {"Dockerfile": "FROM busybox\nRUN echo proxy=$HTTP_PROXY; sleep 2\n"})
    parent = f"{classic.cgroup_parent}/custom"  # inside the daemon's own cgroup: cleaned up with it
    argv = [
        "build",
        "--no-cache",
        "--cgroup-parent",
        parent,
        "--build-arg",
        "HTTP_PROXY=http://10.0.0.1:3128",
    ]
    proc = subprocess.Popen(
        [DOCKER, *argv, "--build-arg", "UNUSED=1", "-t", "proxied", str(ctx)],
        env=classic.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base, seen = _memory_cgroup() / parent, []
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline and not seen:
        seen = [p.name for p in base.iterdir() if p.is_dir()] if base.is_dir() else []
        time.sleep(0.05)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert len(seen) == 1 and len(seen[0]) == 64, seen  # the RUN container's cgroup, under the parent
    assert "proxy=http://10.0.0.1:3128\n" in out
    assert "[Warning] One or more build-args [UNUSED] were not consumed\n" in out
    history = classic.berth("history", "--no-trunc", "--format", "{{.CreatedBy}}", "proxied", check=True)
    assert "10.0.0.1" not in history.stdout  # a proxy is not part of the image


def test_rm_decides_which_step_containers_stay_and_a_failed_step_leaves_none(
    classic: Daemon, tmp_path: Path
) -> None:
    ctx = _ctx(tmp_path, {"Dockerfile": "FROM busybox\nRUN echo one\nRUN exit 2\n"})
    for flags in ([], ["--force-rm"], ["--rm=false"]):  # as BuildKit: no container, no image made
        images = classic.berth("images", "-aq", check=True).stdout
        failed = classic.docker("build", "--no-cache", *flags, str(ctx))
        assert failed.returncode == 2 and "returned a non-zero code: 2" in failed.stderr
        left = classic.berth("ps", "-a", "--no-trunc", "--format", "{{.Command}}", check=True).stdout
        assert left == ("" if flags != ["--rm=false"] else "\"/bin/sh -c 'echo one'\"\n")  # a success's
        classic.berth("container", "prune", "-f", check=True)
        made = set(classic.berth("images", "-aq", check=True).stdout.split()) - set(images.split())
        assert len(made) == 1  # "RUN echo one"'s layer (the cache), never one of the failed step
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo one\nRUN echo two\n")
    kept = classic.docker("build", "--rm=false", "--no-cache", str(ctx))
    assert kept.returncode == 0 and "Removed intermediate container" not in kept.stdout
    assert len(classic.berth("ps", "-aq", check=True).stdout.split()) == 2
    classic.berth("container", "prune", "-f", check=True)
    removed = classic.docker("build", "--no-cache", str(ctx))
    assert removed.stdout.count(" ---> Removed intermediate container ") == 2
    assert classic.berth("ps", "-aq", check=True).stdout == ""


def test_pull_quiet_and_the_refused_query_parameters(
    classic: Daemon, api: docker.APIClient, tmp_path: Path
) -> None:
    # a base only known locally under a registry's name: pull=1 must go to that (closed) registry
    classic.berth("tag", "busybox", "127.0.0.1:9/local/busybox:1", check=True)
    ctx = _ctx(tmp_path, {"Dockerfile": "FROM 127.0.0.1:9/local/busybox:1\nRUN echo built\n"})
    assert classic.docker("build", "-q", str(ctx)).returncode == 0
    pulled = classic.docker("build", "--pull", str(ctx))
    assert pulled.returncode != 0 and "127.0.0.1:9" in pulled.stderr and "built" not in pulled.stdout
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    own = classic.docker("build", "--platform", f"linux/{arch}", str(ctx))  # this machine's: fine
    assert own.returncode == 0, own.stderr
    quiet = classic.docker("build", "-q", "--no-cache", str(ctx))
    assert quiet.stdout.strip().startswith("sha256:") and "built" not in quiet.stdout
    refused = {
        "securityopt": (
            ["--security-opt", "seccomp=unconfined"],
            "security options are not supported on linux",
        ),
        "isolation": (["--isolation", "hyperv"], 'unsupported isolation: "hyperv"'),
        "platform": (["--platform", "linux/s390x"], 'platform "linux/s390x" is not supported'),
    }
    for flags, message in refused.values():
        result = classic.docker("build", *flags, str(ctx))
        assert result.returncode != 0 and message in result.stderr, (flags, result.stderr)
    with pytest.raises(docker.errors.APIError, match="squash is only supported with experimental mode"):
        _stream(api, ctx, squash=True)  # (the docker CLI refuses --squash before asking)
    raw = api._post(api._url("/build"), params={"version": "2"}, data=b"")  # noqa: SLF001
    assert raw.status_code == 501 or raw.status_code == 400, raw.text
    assert "BuildKit is not supported" in raw.json()["message"]
    with pytest.raises(docker.errors.APIError, match="remote build contexts from git repositories"):
        list(api.build(path="https://127.0.0.1:9/x.git", decode=True))  # docker-py sends it as remote=
    outputs = api._post(api._url("/build"), params={"outputs": json.dumps([{"Type": "local"}])}, data=b"")  # noqa: SLF001
    assert "require BuildKit" in outputs.json()["message"]


def test_berth_build_iidfile_and_its_error_for_buildkit_flags(classic: Daemon, tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, {"Dockerfile": "FROM busybox\nLABEL x=y\n"})
    iid = tmp_path / "iid"
    built = classic.berth("build", "--iidfile", str(iid), "--label", "l=1", str(ctx))
    assert built.returncode == 0, built.stderr
    assert iid.read_text() == _inspect(classic, "{{.Id}}", iid.read_text())
    assert _inspect(classic, "{{json .Config.Labels}}", iid.read_text()) == '{"l":"1","x":"y"}'
    output = classic.berth("build", "--output", "type=oci,dest=/tmp/x.tar", str(ctx))
    assert output.returncode == 125 and "is not supported by berth build" in output.stderr
