"""berthd --userns-remap: a container's root is an unprivileged host uid; the image's layers are shared
unchanged (seen through idmapped mounts); what the container writes is owned by the mapped ids on the
host; binds and volumes get the same mapping; exec joins the namespace; what leaves the container (cp,
export, commit, build) is in the container's own ids; --userns host opts out; what dockerd refuses
with remapping is refused in its words."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import docker
import pytest

from berth.daemon.remap import DEFAULT_USER, SUBUID
from tests.e2e.conftest import Daemon, daemon_with

pytestmark = pytest.mark.root


@pytest.fixture
def remapped() -> Iterator[Daemon]:
    with daemon_with("--userns-remap", "default") as daemon:
        yield daemon


@pytest.fixture
def remapped_by_copy(monkeypatch: pytest.MonkeyPatch) -> Iterator[Daemon]:
    """A remapping daemon that takes the fallback of kernels without idmapped layers (chown-copies)."""
    monkeypatch.setenv("BERTH_IDMAP", "chown")
    with daemon_with("--userns-remap", "default") as daemon:
        yield daemon


def _range() -> tuple[int, int]:
    for line in SUBUID.read_text().splitlines():
        name, start, size = line.split(":")
        if name == DEFAULT_USER:
            return int(start), int(size)
    raise AssertionError(f"no {DEFAULT_USER} range in {SUBUID}")


def _upper(daemon: Daemon, name: str) -> Path:
    """The container's upper layer on the host (the snapshot directory holding a file it made)."""
    found = list((daemon.data_root / "image").rglob(f"fs/{name}"))
    assert len(found) == 1, found
    return found[0]


def test_container_root_is_an_unprivileged_host_uid(remapped: Daemon) -> None:
    start, size = _range()
    inside = remapped.docker(
        "run", "--rm", "busybox", "sh", "-c", "cat /proc/self/uid_map; id -u", check=True
    )
    assert inside.stdout.split() == ["0", str(start), str(size), "0"]
    remapped.docker("run", "-d", "--name", "r1", "busybox", "sleep", "300", check=True)
    pid = remapped.docker("inspect", "-f", "{{.State.Pid}}", "r1", check=True).stdout.strip()
    status = dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    assert status["Uid"].split() == [str(start)] * 4  # real, effective, saved, filesystem: on the host
    assert Path(f"/proc/{pid}/uid_map").read_text().split() == ["0", str(start), str(size)]
    # exec joins the same namespace, as root of it
    joined = remapped.docker("exec", "r1", "sh", "-c", "cat /proc/self/uid_map; id -u", check=True)
    assert joined.stdout.split() == ["0", str(start), str(size), "0"]
    info = json.loads(remapped.docker("info", "--format", "{{json .SecurityOptions}}", check=True).stdout)
    assert "name=userns" in info


def test_writes_are_owned_by_the_mapped_ids_and_layers_stay_shared(remapped: Daemon) -> None:
    start, _ = _range()
    layers_before = sorted(p.name for p in (remapped.data_root / "image" / "overlay").iterdir())
    remapped.docker(
        "run", "--name", "w1", "busybox", "sh", "-c", "echo x > /made-here && echo y >> /etc/passwd && ls -ln /etc/passwd",
        check=True,
    )  # fmt: skip
    made = _upper(remapped, "made-here")
    assert (made.stat().st_uid, made.stat().st_gid) == (start, start)
    assert (made.parent / "etc" / "passwd").stat().st_uid == start  # copied up as the container's root
    # the image's own files are untouched (owned by host root) and no layer was copied for the remap
    layers_after = sorted(p.name for p in (remapped.data_root / "image" / "overlay").iterdir())
    assert len(layers_after) == len(layers_before) + 1  # only the container's own upper layer
    lower_passwd = [
        p for p in (remapped.data_root / "image").rglob("fs/etc/passwd") if p.parent.parent != made.parent
    ]
    assert lower_passwd and all(p.stat().st_uid == 0 for p in lower_passwd)
    # an unmapped container of the same image sees the same layers, owned by root
    plain = remapped.docker(
        "run",
        "--rm",
        "--userns",
        "host",
        "busybox",
        "sh",
        "-c",
        "cat /proc/self/uid_map; stat -c %u /etc/passwd",
        check=True,
    )
    assert plain.stdout.split() == ["0", "0", "4294967295", "0"]


def test_binds_and_volumes_get_the_same_mapping(remapped: Daemon, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "host-file").write_text("from the host\n")
    script = "stat -c %u /b/host-file /v; cat /b/host-file; echo c > /b/from-container; echo v > /v/f"
    out = remapped.docker(
        "run", "--rm", "-v", f"{shared}:/b", "-v", "rv:/v", "busybox", "sh", "-c", script, check=True
    )
    assert out.stdout.split("\n")[:3] == ["0", "0", "from the host"]
    assert (shared / "from-container").stat().st_uid == 0  # the container's root is the bind's root


def test_what_leaves_the_container_is_in_its_own_ids(remapped: Daemon, tmp_path: Path) -> None:
    remapped.docker("run", "--name", "o1", "busybox", "sh", "-c", "echo new > /newfile", check=True)
    api = docker.APIClient(base_url=remapped.host, timeout=60)
    stream, _ = api.get_archive("o1", "/newfile")
    assert _tar_owner(b"".join(stream), "newfile") == (0, 0)  # docker cp out
    remapped.docker("export", "-o", str(tmp_path / "o1.tar"), "o1", check=True)
    assert _tar_owner((tmp_path / "o1.tar").read_bytes(), "newfile") == (0, 0)
    remapped.docker("commit", "o1", "o1:img", check=True)
    owners = remapped.docker(
        "run", "--rm", "--userns", "host", "o1:img", "stat", "-c", "%u:%g", "/newfile", check=True
    )
    assert owners.stdout.strip() == "0:0"
    (tmp_path / "in").write_text("in\n")
    remapped.docker("cp", str(tmp_path / "in"), "o1:/put-in", check=True)
    start, _ = _range()
    assert _upper(remapped, "put-in").stat().st_uid == start  # the container's root, on the host
    # a build: RUN's files and COPY's (written by the daemon, then changed by a RUN as the container's root)
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "app.sh").write_text("echo app\n")
    (context / "Dockerfile").write_text(
        "FROM busybox\nCOPY app.sh /app.sh\nRUN chmod +x /app.sh && touch /built\n"
    )
    built = remapped.docker("build", "-q", "-t", "o1:built", str(context))
    assert built.returncode == 0, built.stderr
    owner = remapped.docker(
        "run", "--rm", "--userns", "host", "o1:built", "stat", "-c", "%u %A", "/built", "/app.sh", check=True
    )
    assert owner.stdout.split() == ["0", "-rw-r--r--", "0", "-rwxr-xr-x"]


def test_what_dockerd_refuses_with_remapping(remapped: Daemon) -> None:
    refused = {
        (
            "--privileged",
        ): "privileged mode is incompatible with user namespaces.  You must run the container "
        "in the host namespace when running privileged mode",
        ("--network", "host"): "cannot share the host's network namespace when user namespaces are enabled",
        ("--pid", "host"): "cannot share the host PID namespace when user namespaces are enabled",
    }
    for flags, message in refused.items():
        result = remapped.docker("run", "--rm", *flags, "busybox", "true")
        assert result.returncode == 125 and message in result.stderr, (flags, result.stderr)
        allowed = remapped.docker("run", "--rm", "--userns", "host", *flags, "busybox", "true")
        assert allowed.returncode == 0, (flags, allowed.stderr)


def _tar_owner(data: bytes, name: str) -> tuple[int, int]:
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        member = tar.getmember(name)
        return member.uid, member.gid


def test_the_chown_copy_fallback_without_idmapped_layers(remapped_by_copy: Daemon) -> None:
    start, _ = _range()
    script = "stat -c %u /etc/passwd; echo x > /mine; id -u"
    out = remapped_by_copy.docker("run", "--rm", "busybox", "sh", "-c", script, check=True)
    assert out.stdout.split() == ["0", "0"]  # the image's files are the container root's; it is root
    copies = list((remapped_by_copy.data_root / "image").rglob(f"fs.remap-{start}-*"))
    assert len(copies) == 1 and (copies[0] / "etc" / "passwd").stat().st_uid == start
    original = copies[0].with_name("fs") / "etc" / "passwd"
    assert original.stat().st_uid == 0  # the layer itself is left as it was
    again = remapped_by_copy.docker("run", "--rm", "busybox", "stat", "-c", "%u", "/bin/busybox", check=True)
    assert again.stdout.strip() == "0"
    assert len(list((remapped_by_copy.data_root / "image").rglob(f"fs.remap-{start}-*"))) == 1  # made once
