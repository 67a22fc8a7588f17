"""``berth build`` and ``docker build`` (classic builder, DOCKER_BUILDKIT=0) against berthd: each step's
output, ARG/ENV/WORKDIR/COPY/ADD/RUN/CMD/LABEL in the image, failures and hostile contexts."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import docker
import pytest

from tests.e2e.conftest import DOCKER, Daemon

pytestmark = [pytest.mark.root, pytest.mark.docker_cli]

DOCKERFILE = """\
# a comment
FROM busybox
ARG V=1
ENV GREETING=hello \\
    EMPTY=
WORKDIR /app
COPY src/ ./
COPY --chown=1000:1000 top.txt owned.txt
ADD bundle.tar /opt/
RUN echo "$GREETING $V" > out && cat out
LABEL stage=final
CMD ["cat", "/app/out"]
"""


def _dockerfile(tmp_path: Path, text: str) -> Path:
    """A build context holding only ``text`` as its Dockerfile."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(text)
    return ctx


def _context(tmp_path: Path) -> Path:
    ctx = tmp_path / "ctx"
    (ctx / "src" / "sub").mkdir(parents=True)
    (ctx / "src" / "a.txt").write_text("a\n")
    (ctx / "src" / "sub" / "b.txt").write_text("b\n")
    (ctx / "top.txt").write_text("top\n")
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    with tarfile.open(ctx / "bundle.tar", "w") as tar:
        data = b"from the tarball\n"
        info = tarfile.TarInfo("inside/t.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return ctx


def test_berth_build_runs_every_step_and_the_image_has_them(
    berthd: Daemon, busybox_image: str, tmp_path: Path
) -> None:
    ctx = _context(tmp_path)
    result = berthd.berth("build", "--build-arg", "V=2", "-t", "app:1", str(ctx))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Step 1/10 : FROM busybox" in out
    assert 'Step 8/10 : RUN echo "$GREETING $V" > out && cat out' in out
    assert "\nhello 2\n" in out  # the RUN's own output, streamed
    assert "Successfully tagged app:1" in out
    run = berthd.berth("run", "--rm", "app:1")
    assert (run.returncode, run.stdout) == (0, "hello 2\n")
    listing = berthd.berth(
        "run",
        "--rm",
        "app:1",
        "sh",
        "-c",
        "cat /app/a.txt /app/sub/b.txt /opt/inside/t.txt; stat -c '%u:%g %n' /app/owned.txt /app/a.txt; pwd",
    )
    assert listing.stdout == ("a\nb\nfrom the tarball\n1000:1000 /app/owned.txt\n0:0 /app/a.txt\n/app\n"), (
        listing.stderr
    )
    fmt = "{{json .Config.Env}} {{.Config.WorkingDir}} {{json .Config.Labels}} {{len .RootFS.Layers}}"
    inspect = berthd.berth("image", "inspect", "--format", fmt, "app:1", check=True).stdout.strip()
    assert '"GREETING=hello","EMPTY="]' in inspect
    assert inspect.endswith(' /app {"stage":"final"} 5'), inspect  # busybox + 3 COPY/ADD + RUN
    history = berthd.berth("history", "--no-trunc", "--format", "{{.CreatedBy}}", "app:1", check=True).stdout
    assert 'echo "$GREETING $V" > out && cat out' in history
    # intermediate images stay hidden, as Docker's; and no build container is left behind
    tags = berthd.berth("images", "--format", "{{.Repository}}:{{.Tag}}", check=True).stdout.split()
    assert sorted(tags) == ["app:1", "busybox:latest"]
    assert berthd.berth("ps", "-aq", check=True).stdout == ""
    assert (
        len(berthd.berth("images", "-aq", check=True).stdout.split()) == 10
    )  # busybox + 9 steps (not FROM; ARG commits an empty layer, as dockerd's)
    removed = berthd.berth("rmi", "app:1", check=True).stdout
    assert removed.count("Deleted: sha256:") >= 8  # the image and its untagged steps
    assert berthd.berth("images", "-aq", check=True).stdout.split() == [busybox_id(berthd)]


def busybox_id(berthd: Daemon) -> str:
    shown = berthd.berth("image", "inspect", "--format", "{{.Id}}", "busybox", check=True).stdout
    return shown.strip().removeprefix("sha256:")[:12]


def test_docker_cli_classic_build_and_quiet_id(berthd: Daemon, busybox_image: str, tmp_path: Path) -> None:
    ctx = _dockerfile(tmp_path, "FROM busybox\nRUN echo built > /built\nCMD cat /built\n")
    env = {**berthd.env, "DOCKER_BUILDKIT": "0"}
    built = subprocess.run(
        [DOCKER, "build", "-q", "-t", "dk:1", str(ctx)], env=env, capture_output=True, text=True, timeout=120
    )
    assert built.returncode == 0, built.stderr
    image_id = built.stdout.strip()
    assert image_id.startswith("sha256:")
    inspect = berthd.docker("image", "inspect", "--format", "{{.Id}}", "dk:1", check=True)
    assert inspect.stdout.strip() == image_id
    assert berthd.docker("run", "--rm", "dk:1").stdout == "built\n"


def test_a_failing_step_is_one_clear_error_and_leaves_nothing(
    berthd: Daemon, busybox_image: str, tmp_path: Path
) -> None:
    ctx = _dockerfile(tmp_path, "FROM busybox\nRUN echo before; exit 3\nRUN echo never\n")
    result = berthd.berth("build", "--force-rm", "-t", "broken", str(ctx))
    assert result.returncode == 3  # the step's exit code, as the docker CLI exits
    assert "The command '/bin/sh -c echo before; exit 3' returned a non-zero code: 3" in result.stderr
    assert "before\n" in result.stdout and "never" not in result.stdout
    assert berthd.berth("ps", "-aq", check=True).stdout == ""  # --force-rm: not even the failed one
    assert berthd.berth("images", "-q", "broken", check=True).stdout == ""
    missing = berthd.berth("build", str(ctx / "nope"))
    assert missing.returncode != 0 and "nope" in missing.stderr
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY absent.txt /\n")
    absent = berthd.berth("build", str(ctx))
    assert absent.returncode == 1 and "absent.txt" in absent.stderr
    (ctx / "Dockerfile").write_text("FROM busybox\nFROBNICATE x\n")
    unknown = berthd.berth("build", str(ctx))
    assert unknown.returncode == 1 and "unknown instruction: FROBNICATE" in unknown.stderr


def test_a_hostile_context_is_refused_and_writes_nothing_outside(
    berthd: Daemon, busybox_image: str, tmp_path: Path
) -> None:
    escaped = tmp_path / "escaped.txt"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in (("Dockerfile", b"FROM busybox\nCOPY . /ctx/\n"), (f"../../../..{escaped}", b"x")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("link")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc"
        tar.addfile(link)
    result = berthd.berth("build", "-t", "hostile", "-", input=raw.getvalue())
    assert not escaped.exists()
    if result.returncode == 0:  # ".." was confined to the context: the image holds it, the host does not
        shown = berthd.berth("run", "--rm", "hostile", "ls", "-la", "/ctx", check=True).stdout
        assert "link -> /etc" in shown
    else:
        assert result.stderr.count("\n") == 1, result.stderr


def test_stages_target_user_and_docker_py(berthd: Daemon, busybox_image: str, tmp_path: Path) -> None:
    ctx = _dockerfile(
        tmp_path,
        "ARG BASE=busybox\n"
        "FROM $BASE AS base\n"
        "RUN echo base > /b\n"
        "FROM base AS second\n"
        "USER 65534\n"
        "RUN cat /b > /tmp/c; id -u >> /tmp/c\n"
        'ENTRYPOINT ["cat"]\n'
        'CMD ["/tmp/c"]\n'
        "FROM busybox\n"
        "COPY --from=base /b /copied/\n"
        "COPY --from=1 /tmp/c /copied/c\n"
        "RUN echo final; cat /copied/b /copied/c\n",
    )
    result = berthd.berth("build", "--target", "second", "-t", "t:1", str(ctx))
    assert result.returncode == 0, result.stderr
    assert "Step 6/8" in result.stdout and "final" not in result.stdout  # stopped at the target stage
    assert berthd.berth("run", "--rm", "t:1").stdout == "base\n65534\n"
    client = docker.DockerClient(base_url=berthd.host, version="auto")
    try:
        image, logs = client.images.build(path=str(ctx), tag="py:1", buildargs={"BASE": "busybox"})
        assert image.tags == ["py:1"]
        streamed = "".join(entry.get("stream", "") for entry in logs)
        assert "final\nbase\nbase\n65534\n" in streamed  # files from the two earlier stages
    finally:
        client.close()


def test_config_instructions_land_in_the_image_config(
    berthd: Daemon, busybox_image: str, tmp_path: Path
) -> None:
    ctx = _dockerfile(
        tmp_path,
        "# escape=`\n"
        "FROM busybox\n"
        'HEALTHCHECK --interval=5s --retries=2 CMD ["true"]\n'
        "EXPOSE 80 53/udp\n"
        "VOLUME /data\n"
        "STOPSIGNAL SIGINT\n"
        'ENTRYPOINT ["echo", `\n'
        '  "from entrypoint"]\n',
    )
    result = berthd.berth("build", "-q", "-t", "cfg", str(ctx))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("sha256:") and "Step" not in result.stdout
    fmt = (
        "{{json .Config.Healthcheck}} {{json .Config.ExposedPorts}} {{json .Config.Volumes}} "
        "{{.Config.StopSignal}} {{json .Config.Entrypoint}} {{json .Config.Cmd}}"
    )
    shown = berthd.berth("image", "inspect", "--format", fmt, "cfg", check=True).stdout.strip()
    assert shown == (
        '{"Interval":5000000000,"Retries":2,"Test":["CMD","true"]} {"53/udp":{},"80/tcp":{}} '
        '{"/data":{}} SIGINT ["echo","from entrypoint"] null'  # a new ENTRYPOINT drops the base CMD
    )
    assert berthd.berth("run", "--rm", "cfg").stdout == "from entrypoint\n"


def test_the_build_cache_reuses_steps_until_something_changes(
    berthd: Daemon, busybox_image: str, tmp_path: Path
) -> None:
    ctx = _dockerfile(
        tmp_path, "FROM busybox\nENV A=1\nRUN echo ran-1\nCOPY f.txt /f.txt\nRUN echo ran-2; cat /f.txt\n"
    )
    (ctx / "f.txt").write_text("one\n")

    def build(*flags: str) -> tuple[str, str]:
        result = berthd.berth("build", *flags, "-t", "cached", str(ctx))
        assert result.returncode == 0, result.stderr
        image_id = berthd.berth("image", "inspect", "--format", "{{.Id}}", "cached", check=True).stdout
        return result.stdout, image_id.strip()

    first, first_id = build()
    assert "\nran-1\n" in first and "\none\n" in first and "Using cache" not in first
    again, again_id = build()
    assert again.count(" ---> Using cache") == 4 and "\nran-1\n" not in again and again_id == first_id
    (ctx / "f.txt").write_text("two\n")  # COPY and what follows run again; what comes before does not
    changed, changed_id = build()
    assert changed.count(" ---> Using cache") == 2 and "\nran-1\n" not in changed
    assert "ran-2\ntwo\n" in changed and changed_id != first_id
    fresh, fresh_id = build("--no-cache")
    assert "Using cache" not in fresh and "\nran-1\n" in fresh and fresh_id != changed_id
    arg, _ = build("--build-arg", "A=2")  # an unused build arg: RUN needs no re-run (not declared)
    assert arg.count(" ---> Using cache") == 4


def test_run_steps_get_their_own_network_unless_host(
    berthd: Daemon, busybox_image: str, tmp_path: Path
) -> None:
    ctx = _dockerfile(tmp_path, "FROM busybox\nRUN readlink /proc/self/ns/net\n")
    host_ns = os.readlink("/proc/self/ns/net")
    own = berthd.berth("build", "--no-cache", str(ctx))
    shared = berthd.berth("build", "--no-cache", "--network", "host", str(ctx))
    assert own.returncode == 0 and shared.returncode == 0, own.stderr + shared.stderr
    assert f"\n{host_ns}\n" in shared.stdout and host_ns not in own.stdout


def test_run_output_keeps_characters_split_across_writes(
    berthd: Daemon, busybox_image: str, tmp_path: Path
) -> None:
    # "é" is two bytes, written 0.2 s apart: two frames on the wire, one character in the output
    ctx = _dockerfile(tmp_path, "FROM busybox\nRUN printf 'caf\\303'; sleep 0.2; printf '\\251 ok\\n'\n")
    result = berthd.berth("build", str(ctx))
    assert result.returncode == 0, result.stderr
    assert "café ok\n" in result.stdout and "\ufffd" not in result.stdout


def test_docker_py_build_sends_every_login_and_that_is_fine(
    berthd: Daemon, busybox_image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docker-py puts all the client's logins in X-Registry-Config: ~17 KB of header for 200 of them
    (aiohttp's default limit was 8 KB; dockerd's is 1 MB)."""
    config = tmp_path / "docker-config"
    config.mkdir()
    auth = base64.b64encode(b"someone:" + b"p" * 40).decode()
    logins = {f"registry{n}.example:5000": {"auth": auth} for n in range(200)}
    (config / "config.json").write_text(json.dumps({"auths": logins}))
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    ctx = _dockerfile(tmp_path, "FROM busybox\nLABEL many=logins\n")
    client = docker.DockerClient(base_url=berthd.host, timeout=60)
    image, _ = client.images.build(path=str(ctx), tag="many:1")
    assert image.labels["many"] == "logins"
