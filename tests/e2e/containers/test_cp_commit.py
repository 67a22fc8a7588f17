"""``cp`` (the archive endpoints) and ``commit`` against a real berthd, with berth, the docker CLI and
docker-py: files, directories, modes, ownership, symlinks, stopped containers, tar streams, errors."""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import tarfile
import time
import uuid
from pathlib import Path

import docker
import pytest

from berth.api.filemode import MODE_DIR, MODE_SYMLINK
from tests.e2e.conftest import Daemon

pytestmark = pytest.mark.root


def _ok(result: object) -> str:
    assert getattr(result, "returncode", 1) == 0, f"{result!r}"
    return str(getattr(result, "stdout", ""))


def _tree(tmp: Path) -> Path:
    """src/ with a 0640 file owned 1234:567, a 0750 subdir, a relative symlink and an executable."""
    src = tmp / "src"
    (src / "sub").mkdir(parents=True)
    (src / "file.txt").write_text("hello cp\n")
    os.chmod(src / "file.txt", 0o640)
    os.chown(src / "file.txt", 1234, 567)
    (src / "sub" / "run.sh").write_text("#!/bin/sh\necho run\n")
    os.chmod(src / "sub" / "run.sh", 0o755)
    os.chmod(src / "sub", 0o750)
    os.symlink("file.txt", src / "link")
    return src


def _stat_in(daemon: Daemon, ctr: str, path: str) -> str:
    return _ok(daemon.docker("exec", ctr, "stat", "-c", "%a %u:%g %F", path)).strip()


def _wait_unmounted(fragment: str) -> None:
    """No mount whose path holds ``fragment`` (the daemon unmounts after the last byte went out)."""
    deadline = time.monotonic() + 10
    while True:
        mounted = [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if fragment in line]
        if not mounted or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not mounted


def _check_tree(out: Path, *, owners: bool = True) -> None:
    """The tree of ``_tree``; ``owners=False`` for the docker CLI, which extracts without lchown."""
    assert (out / "file.txt").read_text() == "hello cp\n"
    st = os.lstat(out / "file.txt")
    assert st.st_mode & 0o777 == 0o640
    if owners:
        assert (st.st_uid, st.st_gid) == (1234, 567)
    assert os.lstat(out / "sub").st_mode & 0o777 == 0o750
    assert os.lstat(out / "sub" / "run.sh").st_mode & 0o777 == 0o755
    assert os.readlink(out / "link") == "file.txt"


@pytest.mark.parametrize("cli", ["docker", "berth"])
def test_cp_running_container_both_ways(berthd: Daemon, busybox_image: str, tmp_path: Path, cli: str) -> None:
    run = berthd.docker if cli == "docker" else berthd.berth
    src = _tree(tmp_path)
    _ok(berthd.docker("run", "-d", "--name", "c1", busybox_image, "sleep", "300"))
    archive = ["-a"] if cli == "berth" else []  # berth cp keeps owners with -a, docker always does
    _ok(run("cp", *archive, str(src), "c1:/data"))
    assert _ok(berthd.docker("exec", "c1", "cat", "/data/file.txt")) == "hello cp\n"
    assert _stat_in(berthd, "c1", "/data/file.txt") == "640 1234:567 regular file"
    assert _stat_in(berthd, "c1", "/data/sub") == "750 0:0 directory"
    assert _ok(berthd.docker("exec", "c1", "readlink", "/data/link")).strip() == "file.txt"
    assert _ok(berthd.docker("exec", "c1", "/data/sub/run.sh")) == "run\n"
    # a single file into an existing directory, and to a new name
    _ok(run("cp", str(src / "file.txt"), "c1:/tmp/"))
    _ok(run("cp", str(src / "file.txt"), "c1:/tmp/renamed"))
    assert _ok(berthd.docker("exec", "c1", "cat", "/tmp/file.txt", "/tmp/renamed")) == "hello cp\n" * 2
    # and out again
    out = tmp_path / "out"
    out.mkdir()
    _ok(run("cp", "c1:/data", str(out / "data")))
    _check_tree(out / "data", owners=cli == "berth")
    _ok(run("cp", "c1:/data/file.txt", str(out / "single")))
    assert (out / "single").read_text() == "hello cp\n"
    _ok(run("cp", "c1:/data/link", str(out)))
    assert os.readlink(out / "link") == "file.txt"  # a symlink is copied as a link
    _ok(berthd.docker("rm", "-f", "c1"))


def test_cp_stopped_and_created_containers(berthd: Daemon, busybox_image: str, tmp_path: Path) -> None:
    src = _tree(tmp_path)
    _ok(berthd.docker("create", "--name", "c2", busybox_image, "cat", "/data/file.txt", "/made"))
    _ok(berthd.docker("cp", str(src), "c2:/data"))
    (tmp_path / "made").write_text("made\n")
    _ok(berthd.berth("cp", str(tmp_path / "made"), "c2:/made"))
    _ok(berthd.docker("start", "-a", "c2"))
    assert _ok(berthd.docker("logs", "c2")) == "hello cp\nmade\n"
    out = tmp_path / "out"
    _ok(berthd.berth("cp", "c2:/data", str(out)))
    _check_tree(out)
    _ok(berthd.berth("cp", "c2:/made", str(tmp_path / "made2")))
    assert (tmp_path / "made2").read_text() == "made\n"
    container_dir = next((berthd.data_root / "containers").iterdir())
    _wait_unmounted(str(container_dir / "cp-"))
    deadline = time.monotonic() + 10
    while list(container_dir.glob("cp-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not list(container_dir.glob("cp-*")), "mount points must be removed"


def test_cp_missing_path_errors(berthd: Daemon, busybox_image: str, tmp_path: Path) -> None:
    _ok(berthd.docker("run", "-d", "--name", "c3", busybox_image, "sleep", "300"))
    for run in (berthd.docker, berthd.berth):
        result = run("cp", "c3:/nope", str(tmp_path / "x"))
        assert result.returncode == 1, result
        assert "Could not find the file /nope in container c3" in result.stderr
    result = berthd.docker("cp", str(tmp_path), "c3:/missing/dir/")
    assert result.returncode == 1
    assert "Could not find the file /missing in container c3" in result.stderr  # the CLI PUTs to the parent
    _ok(berthd.docker("rm", "-f", "c3"))


def test_cp_tar_streams(berthd: Daemon, busybox_image: str) -> None:
    _ok(berthd.docker("run", "-d", "--name", "c4", busybox_image, "sleep", "300"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"from a stream\n"
        info = tarfile.TarInfo("streamed/in.txt")
        info.size, info.mode, info.uid, info.gid = len(data), 0o600, 42, 43
        tar.addfile(info, io.BytesIO(data))
    for run in (berthd.docker, berthd.berth):
        _ok(run("cp", "-", "c4:/tmp", input=buf.getvalue()))
    assert _ok(berthd.docker("exec", "c4", "cat", "/tmp/streamed/in.txt")) == "from a stream\n"
    assert _stat_in(berthd, "c4", "/tmp/streamed/in.txt") == "600 42:43 regular file"
    for run in (berthd.docker, berthd.berth):
        raw = run_bytes(berthd, run is berthd.docker, ["cp", "c4:/tmp/streamed", "-"])
        with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
            names = tar.getnames()
            member = tar.getmember("streamed/in.txt")
            assert (member.uid, member.gid, member.mode) == (42, 43, 0o600)
            assert tar.extractfile(member).read() == b"from a stream\n"  # type: ignore[union-attr]
        assert names[0] == "streamed"
    _ok(berthd.docker("rm", "-f", "c4"))


def run_bytes(berthd: Daemon, docker_cli: bool, args: list[str]) -> bytes:
    import subprocess

    from tests.e2e.conftest import BERTH, DOCKER

    result = subprocess.run(
        [DOCKER if docker_cli else BERTH, *args], env=berthd.env, capture_output=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _raw(berthd: Daemon, method: str, path: str, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.0 request on the daemon's socket (for what no CLI sends: hostile tars, HEAD)."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(berthd.socket))
        head = f"{method} {path} HTTP/1.0\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
        sock.sendall(head.encode() + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    header, _, rest = data.partition(b"\r\n\r\n")
    lines = header.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, rest


def test_archive_api_stat_and_hostile_tars(berthd: Daemon, busybox_image: str) -> None:
    _ok(berthd.docker("run", "-d", "--name", "c5", busybox_image, "sleep", "300"))
    _ok(berthd.docker("exec", "c5", "sh", "-c", "ln -s /etc /tmp/etclink && ln -s ../../../.. /tmp/up"))
    status, headers, _ = _raw(berthd, "HEAD", "/v1.50/containers/c5/archive?path=/tmp/etclink")
    assert status == 200
    stat = json.loads(base64.b64decode(headers["x-docker-container-path-stat"]))
    assert stat["name"] == "etclink" and stat["linkTarget"] == "/etc"
    assert stat["mode"] & MODE_SYMLINK and not stat["mode"] & MODE_DIR
    status, headers, _ = _raw(berthd, "HEAD", "/v1.50/containers/c5/archive?path=/etc/")
    stat = json.loads(base64.b64decode(headers["x-docker-container-path-stat"]))
    assert status == 200 and stat["mode"] & MODE_DIR and stat["name"] == "etc"

    # a symlink to / (or ../..) in the container leads to the container's root, never the host's
    marker = f"berth-cp-{uuid.uuid4().hex[:8]}"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(marker)
        tar.addfile(info, io.BytesIO(b""))
    for target in ("/tmp/etclink", "/tmp/up/etc"):
        status, _, body = _raw(berthd, "PUT", f"/containers/c5/archive?path={target}", buf.getvalue())
        assert status == 200, body
        assert not Path("/etc", marker).exists()
    _ok(berthd.docker("exec", "c5", "test", "-e", f"/etc/{marker}"))

    def tar_of(*members: tarfile.TarInfo) -> bytes:
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w") as tar:
            for member in members:
                tar.addfile(member, io.BytesIO(b"") if member.isreg() else None)
        return out.getvalue()

    escape = tarfile.TarInfo("../../escape")
    dev = tarfile.TarInfo("null2")
    dev.type, dev.devmajor, dev.devminor = tarfile.CHRTYPE, 1, 3
    absolute = tarfile.TarInfo("/abs")
    for hostile in (escape, dev, absolute):
        status, _, body = _raw(berthd, "PUT", "/containers/c5/archive?path=/tmp", tar_of(hostile))
        assert status == 400, (hostile.name, body)
    # noOverwriteDirNonDir: a file may not replace a directory
    clash = tarfile.TarInfo("etc")
    status, _, body = _raw(
        berthd, "PUT", "/containers/c5/archive?path=/&noOverwriteDirNonDir=true", tar_of(clash)
    )
    assert status == 400 and b"cannot overwrite directory" in body
    status, _, body = _raw(berthd, "PUT", "/containers/c5/archive?path=/etc/passwd", tar_of(escape))
    assert status == 400 and b"not a directory" in body
    # hard links and FIFOs survive both ways
    data = tarfile.TarInfo("hl/a")
    data.size = 3
    link = tarfile.TarInfo("hl/b")
    link.type, link.linkname = tarfile.LNKTYPE, "hl/a"
    fifo = tarfile.TarInfo("hl/fifo")
    fifo.type = tarfile.FIFOTYPE
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        tar.addfile(data, io.BytesIO(b"abc"))
        tar.addfile(link)
        tar.addfile(fifo)
    status, _, body = _raw(berthd, "PUT", "/containers/c5/archive?path=/tmp", out.getvalue())
    assert status == 200, body
    inodes = _ok(
        berthd.docker("exec", "c5", "stat", "-c", "%i %h %F", "/tmp/hl/a", "/tmp/hl/b", "/tmp/hl/fifo")
    )
    (a, b, f) = inodes.splitlines()
    assert a == b and a.endswith("2 regular file") and f.endswith("fifo")
    status, _, body = _raw(berthd, "GET", "/containers/c5/archive?path=/tmp/hl")
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        kinds = {m.name: (m.type, m.linkname) for m in tar.getmembers()}
    assert kinds["hl/b"] == (tarfile.LNKTYPE, "hl/a") and kinds["hl/fifo"][0] == tarfile.FIFOTYPE
    status, _, body = _raw(berthd, "GET", "/containers/c5/archive?path=/nope")
    assert status == 404 and json.loads(body)["message"] == "Could not find the file /nope in container c5"
    _ok(berthd.docker("rm", "-f", "c5"))


def _top_layer_names(berthd: Daemon, image: str, path: Path) -> set[str]:
    _ok(berthd.docker("save", "-o", str(path), image))
    with tarfile.open(path) as saved:
        manifest = json.load(saved.extractfile("manifest.json"))  # type: ignore[arg-type]
        layer = saved.extractfile(manifest[0]["Layers"][-1])
        with tarfile.open(fileobj=layer) as tar:
            return {name.removeprefix("./") for name in tar.getnames()}


def test_commit_with_changes(berthd: Daemon, busybox_image: str, tmp_path: Path) -> None:
    _ok(
        berthd.docker(
            "run", "--name", "c6", busybox_image, "sh", "-c", "echo added > /added && rm /etc/group"
        )
    )
    image_id = _ok(
        berthd.docker(
            "commit", "-m", "my message", "-a", "Ann Author", "--change", 'CMD ["echo","hi"]', "c6", "snap:1"
        )
    ).strip()
    assert image_id.startswith("sha256:")
    assert _ok(berthd.docker("run", "--rm", "snap:1")) == "hi\n"
    out = _ok(
        berthd.docker("run", "--rm", "snap:1", "sh", "-c", "cat /added; test -e /etc/group || echo gone")
    )
    assert out == "added\ngone\n"
    inspect = json.loads(_ok(berthd.docker("image", "inspect", "snap:1")))[0]
    assert inspect["Id"] == image_id
    assert inspect["Config"]["Cmd"] == ["echo", "hi"]
    history = _ok(berthd.docker("history", "--no-trunc", "--format", "{{.Comment}}", "snap:1"))
    assert history.splitlines()[0] == "my message"
    names = _top_layer_names(berthd, "snap:1", tmp_path / "snap.tar")
    assert {"added", "etc/.wh.group"} <= names
    assert not names & {"etc/hosts", "etc/hostname", "etc/resolv.conf"}  # the runtime's mount points
    # berth's CLI, a running container (paused during the diff), no tag
    _ok(berthd.docker("run", "-d", "--name", "c7", busybox_image, "sh", "-c", "echo live > /live; sleep 300"))
    _ok(berthd.docker("exec", "c7", "test", "-e", "/live"))
    new_id = _ok(berthd.berth("commit", "-c", "ENV FOO=bar", "c7", "snap:2")).strip()
    assert new_id.startswith("sha256:")
    assert _ok(berthd.docker("inspect", "-f", "{{.State.Status}}", "c7")).strip() == "running"
    assert _ok(berthd.docker("run", "--rm", "snap:2", "sh", "-c", "cat /live; echo $FOO")) == "live\nbar\n"
    _ok(berthd.docker("rm", "-f", "c7", "c6"))


def test_docker_py_archive_and_commit(berthd: Daemon, busybox_image: str) -> None:
    client = docker.DockerClient(base_url=berthd.host, timeout=60)
    container = client.containers.run(busybox_image, ["sleep", "300"], detach=True, name="py-cp")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"via docker-py\n"
        info = tarfile.TarInfo("pyfile")
        info.size, info.mode = len(data), 0o644
        tar.addfile(info, io.BytesIO(data))
    assert container.put_archive("/tmp", buf.getvalue()) is True
    chunks, stat = container.get_archive("/tmp/pyfile")
    assert stat["name"] == "pyfile" and stat["size"] == len(data)
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        assert tar.extractfile("pyfile").read() == data  # type: ignore[union-attr]
    with pytest.raises(docker.errors.NotFound):
        container.get_archive("/nope")
    image = container.commit(
        repository="pysnap", tag="v1", message="py", changes=['CMD ["cat","/tmp/pyfile"]']
    )
    assert "pysnap:v1" in image.tags
    assert client.containers.run("pysnap:v1", remove=True) == data
    container.remove(force=True)


def test_cp_stopped_container_sees_binds(berthd: Daemon, busybox_image: str, tmp_path: Path) -> None:
    """A stopped container's binds (and /etc/hostname) are where cp looks, as in a running one."""
    volume = tmp_path / "vol"
    volume.mkdir()
    _ok(
        berthd.docker(
            "run", "--name", "c8", "--hostname", "cphost", "-v", f"{volume}:/vol", busybox_image, "true"
        )
    )
    (tmp_path / "in.txt").write_text("into the bind\n")
    _ok(berthd.docker("cp", str(tmp_path / "in.txt"), "c8:/vol/"))
    assert (volume / "in.txt").read_text() == "into the bind\n"
    _ok(berthd.docker("cp", "c8:/etc/hostname", str(tmp_path / "hostname")))
    assert (tmp_path / "hostname").read_text() == "cphost\n"
    _wait_unmounted(str(volume))


def test_cp_archive_mode_owns_files_by_the_container_user(
    berthd: Daemon, busybox_image: str, tmp_path: Path
) -> None:
    """``docker cp -a`` (copyUIDGID) gives the files to the container's User; without it the tar's ids stay."""
    _ok(berthd.docker("run", "-d", "--name", "c9", "--user", "nobody", busybox_image, "sleep", "300"))
    src = tmp_path / "owned"
    src.write_text("owned\n")
    os.chown(src, 1234, 1234)
    _ok(berthd.docker("cp", "-a", str(src), "c9:/tmp/a"))
    _ok(berthd.docker("cp", str(src), "c9:/tmp/b"))
    assert _stat_in(berthd, "c9", "/tmp/a").split()[1] == "65534:65534"
    assert _stat_in(berthd, "c9", "/tmp/b").split()[1] == "1234:1234"
    _ok(berthd.docker("rm", "-f", "c9"))
