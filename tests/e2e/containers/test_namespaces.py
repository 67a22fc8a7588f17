"""Namespace modes, checked inside the container: --pid, --ipc, --uts and --cgroupns (host, private,
shareable, none, container:NAME), /dev/shm following the IPC mode, and Docker's errors."""

from __future__ import annotations

import os
from collections.abc import Iterator

import docker
import pytest

from tests.e2e.conftest import Daemon

pytestmark = pytest.mark.root


def _client(berthd: Daemon) -> docker.DockerClient:
    return docker.DockerClient(base_url=berthd.host, timeout=60)


def _run(berthd: Daemon, image: str, script: str, *flags: str) -> str:
    result = berthd.docker("run", "--rm", *flags, image, "sh", "-c", script)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _host_ns(kind: str) -> str:
    return os.readlink(f"/proc/self/ns/{kind}")


@pytest.fixture
def donor(berthd: Daemon, busybox_image: str) -> Iterator[tuple[str, int]]:
    """A running container with a shareable IPC namespace: (name, host pid of its init)."""
    result = berthd.docker(
        "run", "-d", "--name", "donor", "--ipc", "shareable", busybox_image, "sleep", "300"
    )
    assert result.returncode == 0, result.stderr
    pid = int(berthd.docker("inspect", "-f", "{{.State.Pid}}", "donor").stdout)
    try:
        yield "donor", pid
    finally:
        berthd.docker("rm", "-f", "donor")


def test_pid_host(berthd: Daemon, busybox_image: str) -> None:
    out = _run(berthd, busybox_image, "readlink /proc/self/ns/pid; echo $$")
    ns, pid = out.split()
    assert ns != _host_ns("pid") and pid == "1"
    out = _run(berthd, busybox_image, "readlink /proc/self/ns/pid; echo $$", "--pid", "host")
    ns, pid = out.split()
    assert ns == _host_ns("pid") and pid != "1"


def test_pid_container_shares_the_namespace(
    berthd: Daemon, busybox_image: str, donor: tuple[str, int]
) -> None:
    name, pid = donor
    out = _run(berthd, busybox_image, "readlink /proc/self/ns/pid; cat /proc/1/cmdline | tr '\\0' ' '",
               "--pid", f"container:{name}")  # fmt: skip
    ns, cmdline = out.split("\n", 1)
    assert ns == os.readlink(f"/proc/{pid}/ns/pid")
    assert cmdline.split() == ["sleep", "300"]  # the donor's init is our pid 1
    created = berthd.docker("create", "--pid", f"container:{name}", busybox_image, "true")
    donor_id = berthd.docker("inspect", "-f", "{{.Id}}", name).stdout.strip()
    mode = berthd.docker("inspect", "-f", "{{.HostConfig.PidMode}}", created.stdout.strip()).stdout.strip()
    assert mode == f"container:{donor_id}"  # pinned to the ID: survives a rename


def test_ipc_modes(berthd: Daemon, busybox_image: str, donor: tuple[str, int]) -> None:
    name, pid = donor
    donor_ns = os.readlink(f"/proc/{pid}/ns/ipc")
    assert donor_ns != _host_ns("ipc")
    # container:NAME joins the donor's IPC namespace and its /dev/shm
    wrote = berthd.docker("exec", name, "sh", "-c", "echo shared > /dev/shm/marker")
    assert wrote.returncode == 0, wrote.stderr
    out = _run(berthd, busybox_image, "readlink /proc/self/ns/ipc; cat /dev/shm/marker; echo back > /dev/shm/reply",
               "--ipc", f"container:{name}")  # fmt: skip
    assert out.split() == [donor_ns, "shared"]
    assert berthd.docker("exec", name, "cat", "/dev/shm/reply").stdout.strip() == "back"
    # host: the host's namespace and /dev/shm (same device)
    out = _run(berthd, busybox_image, "readlink /proc/self/ns/ipc; stat -c %d /dev/shm", "--ipc", "host")
    assert out.split() == [_host_ns("ipc"), str(os.stat("/dev/shm").st_dev)]
    # none: a namespace of its own, no /dev/shm
    out = _run(
        berthd, busybox_image, "readlink /proc/self/ns/ipc; ls -d /dev/shm 2>&1; true", "--ipc", "none"
    )
    ns, missing = out.split("\n", 1)
    assert ns not in (_host_ns("ipc"), donor_ns) and "No such file" in missing
    # private (the default): its own
    private = _run(
        berthd, busybox_image, "readlink /proc/self/ns/ipc; grep -c ' /dev/shm tmpfs' /proc/mounts"
    ).split()
    assert private[0] not in (_host_ns("ipc"), donor_ns) and private[1] == "1"
    assert berthd.docker("inspect", "-f", "{{.HostConfig.IpcMode}}", name).stdout.strip() == "shareable"


def test_ipc_container_errors(berthd: Daemon, busybox_image: str) -> None:
    started = berthd.docker("run", "-d", "--name", "private", busybox_image, "sleep", "300")
    assert started.returncode == 0, started.stderr
    private_id = started.stdout.strip()
    result = berthd.docker("run", "--rm", "--ipc", "container:private", busybox_image, "true")
    assert result.returncode != 0
    # the mode is pinned to the donor's ID at create, as dockerd does
    hint = "non-shareable IPC (hint: use IpcMode:shareable for the donor container)"
    assert f"container {private_id}: {hint}" in result.stderr
    berthd.docker("rm", "-f", "private")
    created = berthd.docker("create", "--name", "stopped", "--ipc", "shareable", busybox_image, "true")
    assert created.returncode == 0, created.stderr
    container_id = created.stdout.strip()
    for flag in ("--ipc", "--pid"):
        result = berthd.docker("run", "--rm", flag, "container:stopped", busybox_image, "true")
        assert result.returncode != 0 and f"container {container_id} is not running" in result.stderr
    result = berthd.docker("run", "--rm", "--pid", "container:nosuch", busybox_image, "true")
    assert result.returncode != 0 and "No such container: nosuch" in result.stderr


def test_uts_host(berthd: Daemon, busybox_image: str) -> None:
    out = _run(berthd, busybox_image, "readlink /proc/self/ns/uts; hostname", "--uts", "host")
    assert out.split() == [_host_ns("uts"), os.uname().nodename]
    client = _client(berthd)
    with pytest.raises(docker.errors.APIError) as err:
        client.api.create_container(
            busybox_image,
            ["true"],
            hostname="box",
            host_config=client.api.create_host_config(uts_mode="host"),
        )
    assert err.value.status_code == 400
    assert "conflicting options: hostname and the UTS mode" in str(err.value)


def test_cgroupns(berthd: Daemon, busybox_image: str) -> None:
    script = "readlink /proc/self/ns/cgroup; grep -E '^[0-9]+:(memory|):' /proc/self/cgroup | head -1"
    private = _run(berthd, busybox_image, script).split()
    assert private[0] != _host_ns("cgroup") and private[1].endswith(":/")  # rooted at its own cgroup
    host = _run(berthd, busybox_image, script, "--cgroupns", "host").split()
    assert host[0] == _host_ns("cgroup") and host[1] != private[1] and len(host[1].split(":/")[1]) > 0
    # /sys/fs/cgroup shows the container's own cgroup (its processes only), not the host's tree
    procs = _run(berthd, busybox_image, "cat /sys/fs/cgroup/pids/cgroup.procs 2>/dev/null || cat /sys/fs/cgroup/cgroup.procs",
                 "--cgroupns", "host").split()  # fmt: skip
    assert 1 <= len(procs) <= 3
    client = _client(berthd)
    with pytest.raises(docker.errors.APIError) as err:
        host_config = client.api.create_host_config()
        host_config["CgroupnsMode"] = "shared"
        client.api.create_container(busybox_image, ["true"], host_config=host_config)
    assert err.value.status_code == 400 and "invalid cgroup namespace mode: shared" in str(err.value)


def test_init_only_in_a_private_pid_namespace(berthd: Daemon, busybox_image: str) -> None:
    assert _run(berthd, busybox_image, "cat /proc/1/comm", "--init").strip() != "sh"
    out = _run(berthd, busybox_image, "cat /proc/$PPID/comm", "--init", "--pid", "host")
    assert out.strip() not in ("tini-static", "docker-init", "tini")


def test_a_pod_shares_ipc_pid_and_network_like_cri_dockerd(
    berthd: Daemon, busybox_image: str, donor: tuple[str, int]
) -> None:
    name, pid = donor
    flags = ("--ipc", f"container:{name}", "--pid", f"container:{name}", "--network", f"container:{name}")
    out = _run(berthd, busybox_image, "for n in ipc pid net; do readlink /proc/self/ns/$n; done", *flags)
    assert out.split() == [os.readlink(f"/proc/{pid}/ns/{n}") for n in ("ipc", "pid", "net")]
