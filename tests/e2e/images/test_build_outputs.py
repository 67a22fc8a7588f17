"""``berth build --output`` (buildx's local, tar, image, registry) and ``--cache-to type=inline``
against a real berthd: the files of the target stage, and nothing of the build left behind when no
image is asked for; an image pushed and pulled into a fresh daemon serves ``--cache-from``."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from berth.testing.registry import RegistryProcess, start_berth_registry
from tests.e2e.conftest import BERTH, Daemon, daemon_with

pytestmark = [pytest.mark.root]

MULTI_STAGE = """\
FROM busybox AS tools
RUN echo built > /built && mkdir /dist && echo bin > /dist/app
RUN echo later > /later
FROM scratch
COPY --from=tools /dist/app /app
COPY f /f
"""


def _ctx(tmp_path: Path, dockerfile: str, files: dict[str, str] | None = None) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(dockerfile)
    for name, text in (files or {"f": "hello\n"}).items():
        (ctx / name).write_text(text)
    return ctx


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result.stdout


def _state(berthd: Daemon) -> tuple[list[str], list[str]]:
    """Every image (intermediate ones too) and every container."""
    images = sorted(_ok(berthd.berth("images", "-aq", "--no-trunc")).split())
    return images, sorted(_ok(berthd.berth("ps", "-aq", "--no-trunc")).split())


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_local_output_is_the_target_stage_and_nothing_stays(
    berthd: Daemon, busybox_image: str, tmp_path: Path
) -> None:
    ctx = _ctx(tmp_path, MULTI_STAGE)
    before = _state(berthd)
    out = tmp_path / "out"
    built = berthd.berth("build", "-t", "app:1", "-o", str(out), str(ctx))
    assert built.returncode == 0, built.stderr
    assert _tree(out) == ["app", "f"]  # the final stage (FROM scratch) only
    assert (out / "app").read_text() == "bin\n" and (out / "f").read_text() == "hello\n"
    assert f"Exported the files of {_built_id(built.stdout)} to {out}" in built.stdout
    assert "WARNING: --tag is ignored: --output type=local keeps no image" in built.stderr
    assert _state(berthd) == before  # no tag, no dangling or intermediate image, no container

    tools = tmp_path / "tools"
    _ok(berthd.berth("build", "--target", "tools", "-o", f"type=local,dest={tools}", str(ctx)))
    assert (tools / "built").read_text() == "built\n" and (tools / "later").read_text() == "later\n"
    assert (tools / "dist" / "app").is_file() and (tools / "bin" / "busybox").is_file()
    assert not (tools / "f").exists()
    assert _state(berthd) == before


def _built_id(stdout: str) -> str:
    return stdout.split("Successfully built ", 1)[1].split()[0]


def test_tar_output_to_a_file_and_to_stdout(berthd: Daemon, busybox_image: str, tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, MULTI_STAGE)
    before = _state(berthd)
    archive = tmp_path / "sub" / "out.tar"
    _ok(berthd.berth("build", "--output", f"type=tar,dest={archive}", str(ctx)))
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["app", "f"]
        member = tar.extractfile("f")
        assert member is not None and member.read() == b"hello\n"
    piped = subprocess.run(
        [BERTH, "build", "-o", "-", str(ctx)], env=berthd.env, capture_output=True, timeout=120
    )
    assert piped.returncode == 0, piped.stderr
    assert b"Step 1/6 : FROM busybox AS tools" in piped.stderr  # the progress leaves stdout to the tar
    with tarfile.open(fileobj=io.BytesIO(piped.stdout)) as tar:
        assert sorted(tar.getnames()) == ["app", "f"]
    quiet = subprocess.run(
        [BERTH, "build", "-q", "--output", "type=tar", str(ctx)],
        env=berthd.env,
        capture_output=True,
        timeout=120,
    )
    assert (quiet.returncode, quiet.stderr) == (0, b"")
    with tarfile.open(fileobj=io.BytesIO(quiet.stdout)) as tar:
        assert sorted(tar.getnames()) == ["app", "f"]
    assert _state(berthd) == before


def test_from_scratch_is_just_the_files_and_from_an_image_all_of_it(
    berthd: Daemon, busybox_image: str, tmp_path: Path
) -> None:
    """None of the runtime's mount points (/etc/hosts, /proc…) appear: the container never starts."""
    ctx = _ctx(tmp_path, "FROM scratch\nCOPY f /f\n")
    out = tmp_path / "scratch"
    _ok(berthd.berth("build", "-o", str(out), str(ctx)))
    assert _tree(out) == ["f"]

    (ctx / "Dockerfile").write_text("FROM busybox\n")  # no step: the image is busybox itself
    before = _state(berthd)
    plain = tmp_path / "busybox"
    _ok(berthd.berth("build", "-o", str(plain), str(ctx)))
    exported = subprocess.run(
        [BERTH, "create", busybox_image, "true"], env=berthd.env, capture_output=True, text=True
    )
    cid = exported.stdout.strip()
    tar_bytes = subprocess.run(
        [BERTH, "export", cid], env=berthd.env, capture_output=True, timeout=60, check=True
    ).stdout
    _ok(berthd.berth("rm", cid))
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        expected = sorted(n.rstrip("/") for n in tar.getnames() if n not in (".", "./"))
    assert _tree(plain) == expected
    assert not (plain / "etc" / "hosts").exists() and not (plain / "etc" / "resolv.conf").exists()
    assert _state(berthd) == before  # busybox existed before the build: it stays


def test_symlinks_stay_links_and_nothing_lands_outside(
    berthd: Daemon, busybox_image: str, tmp_path: Path
) -> None:
    """A link to / in the image, a file copied "under" it, and a symlink already in DIR pointing out:
    every write stays in DIR."""
    name = f"berth-output-{uuid.uuid4().hex[:8]}"
    ctx = _ctx(
        tmp_path, f"FROM busybox\nRUN ln -s / /escape && ln -s /etc/passwd /pw\nCOPY f /escape/tmp/{name}\n"
    )
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "tmp").symlink_to(outside)  # left by someone else: the image's /tmp must not go through it
    _ok(berthd.berth("build", "-o", str(out), str(ctx)))
    assert os.readlink(out / "escape") == "/" and os.readlink(out / "pw") == "/etc/passwd"
    assert not (out / "tmp").is_symlink() and (out / "tmp" / name).read_text() == "hello\n"
    assert list(outside.iterdir()) == [] and not Path("/tmp", name).exists()


def test_refusals_send_nothing(berthd: Daemon, busybox_image: str, tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, "FROM busybox\nRUN true\n")
    before = _state(berthd)
    (tmp_path / "file").write_text("x")
    for flags, message in (
        (["-o", "type=ftp,dest=x"], 'unknown output type "ftp"'),
        (["-o", "type=local"], "dest is required for local exporter"),
        (["-o", f"type=local,dest={tmp_path / 'file'}"], "is a file"),
        (["-o", "type=oci,dest=x.tar"], "berth save NAME -o FILE"),
        (["-o", "type=registry"], "tag is needed when pushing to registry"),
        (["-o", str(tmp_path / "o"), "--iidfile", str(tmp_path / "iid")], "incompatible with image ID file"),
        (["--cache-to", "type=registry,ref=x/y"], "--cache-to type=registry is not supported"),
        (["--cache-to", "type=inline", "-o", str(tmp_path / "o")], "keep no image"),
    ):
        refused = berthd.berth("build", *flags, str(ctx))
        assert refused.returncode == 125 and message in refused.stderr, (flags, refused.stderr)
    assert not (tmp_path / "o").exists()
    assert _state(berthd) == before


def test_a_failed_build_with_an_output_leaves_nothing(
    berthd: Daemon, busybox_image: str, tmp_path: Path
) -> None:
    ctx = _ctx(tmp_path, "FROM busybox\nRUN echo one > /one\nRUN exit 3\n")
    before = _state(berthd)
    failed = berthd.berth("build", "--force-rm", "-o", str(tmp_path / "out"), str(ctx))
    assert failed.returncode == 3, failed.stderr
    assert not (tmp_path / "out").exists()
    assert _state(berthd) == before  # RUN echo's image too: the step images were this build's


def test_image_and_local_outputs_together(berthd: Daemon, busybox_image: str, tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, "FROM busybox\nCOPY f /f\n")
    out = tmp_path / "out"
    iid = _ok(
        berthd.berth(
            "build", "-q", "-t", "app:1", "-o", "type=image", "-o", f"dest={out},type=local", str(ctx)
        )
    )
    assert (out / "f").read_text() == "hello\n"
    inspected = json.loads(_ok(berthd.berth("image", "inspect", "app:1")))
    assert inspected[0]["Id"] == iid.strip()


def _login(daemon: Daemon, registry: RegistryProcess) -> None:
    _ok(daemon.berth("login", "-u", "alice", "--password-stdin", registry.host, input=b"secret\n"))


def _layers(daemon: Daemon, image: str) -> list[str]:
    return list(json.loads(_ok(daemon.berth("image", "inspect", image)))[0]["RootFS"]["Layers"])


def test_registry_output_pushes_and_inline_cache_serves_a_fresh_daemon(
    berthd: Daemon, busybox_image: str, tmp_path: Path
) -> None:
    """``--output type=registry`` pushes the -t names; ``--cache-to type=inline`` is accepted, and the
    pushed image, pulled into another daemon, serves its ``--cache-from``: every step "Using cache",
    the same layers and the same image."""
    registry = start_berth_registry(tmp_path / "registry", admins={"alice": "secret"})
    try:
        base, app = f"{registry.host}/alice/base:1", f"{registry.host}/alice/app:1"
        _login(berthd, registry)
        _ok(berthd.berth("tag", busybox_image, base))
        _ok(berthd.berth("push", base))
        dockerfile = f"FROM {base}\nRUN echo step > /step\nCOPY f /f\n"
        ctx = _ctx(tmp_path, dockerfile)
        built = berthd.berth("build", "-t", app, "--cache-to", "type=inline", "-o", "type=registry", str(ctx))
        assert built.returncode == 0, built.stderr
        assert f"{registry.host}/alice/app" in built.stdout and "digest: sha256:" in built.stdout
        with daemon_with() as fresh:
            _login(fresh, registry)
            _ok(fresh.berth("pull", app))
            cold = fresh.berth("build", "-t", "cold", str(ctx))  # pulled images serve only if listed
            assert cold.returncode == 0 and "Using cache" not in cold.stdout, cold.stdout
            warm = fresh.berth("build", "--cache-from", f"type=registry,ref={app}", "-t", "warm", str(ctx))
            assert warm.returncode == 0, warm.stderr
            assert warm.stdout.count("Using cache") == 2, warm.stdout
            assert _layers(fresh, "warm") == _layers(berthd, app)
            warm_id = _ok(fresh.berth("image", "inspect", "--format", "{{.Id}}", "warm"))
            assert warm_id == _ok(berthd.berth("image", "inspect", "--format", "{{.Id}}", app))
    finally:
        registry.stop()


def _export_containers(berthd: Daemon) -> list[str]:
    return _ok(berthd.berth("ps", "-aq", "--filter", "label=berth.build-output")).split()


def _stuck_export(berthd: Daemon, ctx: Path) -> subprocess.Popen[bytes]:
    """``--output type=tar`` onto a pipe nobody reads: the CLI blocks mid-export, its container made."""
    cli = subprocess.Popen(
        [BERTH, "build", "-q", "--output", "type=tar", str(ctx)],
        env=berthd.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(600):
        if _export_containers(berthd):
            return cli
        assert cli.poll() is None, "the export ended before it was interrupted"
        subprocess.run(["sleep", "0.1"], check=True)
    raise AssertionError("no export container appeared")


def test_an_interrupted_output_leaves_no_container(
    berthd: Daemon, busybox_image: str, tmp_path: Path
) -> None:
    """SIGTERM ends the export as ^C does; after a SIGKILL the next --output removes the leftover."""
    ctx = _ctx(tmp_path, "FROM busybox\nRUN head -c 64000000 /dev/urandom > /big\n")
    cli = _stuck_export(berthd, ctx)
    cli.terminate()
    assert cli.wait(timeout=30) != 0
    assert cli.stdout is not None
    cli.stdout.close()
    assert _export_containers(berthd) == []

    cli = _stuck_export(berthd, ctx)
    cli.kill()
    cli.wait(timeout=30)
    assert cli.stdout is not None
    cli.stdout.close()
    assert len(_export_containers(berthd)) == 1  # a killed CLI cannot clean up …
    out = tmp_path / "out"
    _ok(berthd.berth("build", "-q", "--output", f"type=local,dest={out}", str(ctx)))
    assert (out / "big").stat().st_size == 64_000_000
    assert _export_containers(berthd) == []  # … the next export does
