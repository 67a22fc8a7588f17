"""The escape corpus beyond system calls: from a default root container, the host's kernel settings,
/sys, raw block devices, cgroup release agents, the runtime's own binary (CVE-2019-5736) and symlinks
in `docker cp` and volumes are out of reach. The same with --privileged where Docker allows them, so
the test shows which switch holds each door."""

from __future__ import annotations

import os
import subprocess
import threading
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import Daemon
from tests.e2e.security.conftest import PROBE

pytestmark = pytest.mark.root


def _sh(berthd: Daemon, image: str, script: str, *flags: str) -> str:
    result = berthd.docker("run", "--rm", *flags, image, "sh", "-c", script)
    return result.stdout + result.stderr


def _host_block_device() -> str:
    """MAJOR:MINOR of a block device this host itself can read (so that a refusal is the container's)."""
    for entry in sorted(Path("/sys/class/block").iterdir()):
        node = Path("/dev") / entry.name
        try:
            os.close(os.open(node, os.O_RDONLY | os.O_CLOEXEC))
        except OSError:
            continue
        return (entry / "dev").read_text().strip()
    pytest.skip("no block device this host can read")


def test_kernel_settings_and_sys_are_read_only(berthd: Daemon, busybox_image: str) -> None:
    before = Path("/proc/sys/kernel/core_pattern").read_text()
    out = _sh(
        berthd,
        busybox_image,
        "echo '|/tmp/x' > /proc/sys/kernel/core_pattern; echo 1 > /sys/kernel/uevent_helper",
    )
    assert out.count("Read-only file system") == 2, out
    assert Path("/proc/sys/kernel/core_pattern").read_text() == before
    # masked: the host's keys and kernel memory read as nothing (kcore: when the kernel has one)
    masked = _sh(
        berthd, busybox_image, "[ -e /proc/kcore ] && wc -c < /proc/kcore || echo 0; wc -l < /proc/keys"
    )
    assert masked.split() == ["0", "0"], masked


def test_raw_block_devices_are_refused_by_the_device_cgroup(berthd: Daemon, busybox_image: str) -> None:
    major, minor = _host_block_device().split(":")
    script = f"mknod /tmp/disk b {major} {minor} && head -c 512 /tmp/disk > /dev/null"
    assert "Operation not permitted" in _sh(berthd, busybox_image, script)
    # --privileged opens the host's devices, as with Docker: the switch is the device cgroup
    assert _sh(berthd, busybox_image, f"{script} && echo read", "--privileged").strip().endswith("read")


def test_the_release_agent_trick_fails(berthd: Daemon, busybox_image: str) -> None:
    script = (
        "mkdir -p /tmp/cg && mount -t cgroup -o memory cgroup /tmp/cg && echo mounted; "
        "ls /sys/fs/cgroup/*/release_agent 2>/dev/null | while read f; do echo x > $f && echo wrote $f; done; "
        "echo done"
    )
    out = _sh(berthd, busybox_image, script)
    assert "mounted" not in out and "wrote" not in out and "done" in out, out


def test_ptrace_of_a_host_process_is_refused(berthd: Daemon, busybox_image: str, probe: Path) -> None:
    """Even with the host's pid namespace in view (--pid host), a container's root cannot trace a host
    process: it lacks CAP_SYS_PTRACE and the host process holds more capabilities."""
    host = subprocess.Popen(["sleep", "60"])
    try:
        flags = ("--pid", "host", "-v", f"{probe}:{PROBE}:ro")
        refused = berthd.docker("run", "--rm", *flags, busybox_image, PROBE, "ptrace", str(host.pid))
        assert refused.stdout.strip() == "Operation not permitted", refused.stdout + refused.stderr
        allowed = berthd.docker(
            "run", "--rm", "--privileged", *flags, busybox_image, PROBE, "ptrace", str(host.pid)
        )
        assert allowed.stdout.strip() == "ok", allowed.stdout + allowed.stderr  # the switch, as Docker's
        assert host.poll() is None  # attached and let go, not killed
    finally:
        host.kill()
        host.wait()


def test_the_runtime_binary_is_never_reachable_from_the_container(
    berthd: Daemon, busybox_image: str, probe: Path
) -> None:
    name = f"watch-{uuid.uuid4().hex[:6]}"
    berthd.docker(
        "run",
        "-d",
        "--name",
        name,
        "-v",
        f"{probe}:{PROBE}:ro",
        busybox_image,
        PROBE,
        "exe-watch",
        "8",
        check=True,
    )
    stop = threading.Event()

    def execs() -> None:
        while not stop.is_set():
            subprocess.run(["docker", "exec", name, "true"], env=berthd.env, capture_output=True, timeout=30)

    def joiners() -> None:  # a new container's init in the watcher's pid namespace, before its execve
        while not stop.is_set():
            subprocess.run(
                ["docker", "run", "--rm", "--pid", f"container:{name}", busybox_image, "true"],
                env=berthd.env,
                capture_output=True,
                timeout=30,
            )

    workers = [threading.Thread(target=execs), threading.Thread(target=joiners)]
    for worker in workers:
        worker.start()
    code = berthd.docker("wait", name, timeout=60).stdout.strip()
    stop.set()
    for worker in workers:
        worker.join()
    logs = berthd.docker("logs", name).stdout
    assert code == "0" and logs.strip() == "ok", logs


def test_cp_and_volumes_do_not_follow_the_containers_symlinks(
    berthd: Daemon, busybox_image: str, tmp_path: Path
) -> None:
    secret = tmp_path / "host-secret"
    secret.write_text("host only\n")
    name = f"links-{uuid.uuid4().hex[:6]}"
    berthd.docker(
        "run", "-d", "--name", name, busybox_image, "sh", "-c",
        f"ln -s {secret} /leak; ln -s / /rootlink; mkdir -p /out {tmp_path}; ln -s {tmp_path} /out/dir; sleep 300",
    check=True)  # fmt: skip
    # out of the container: the links come out as links, never as the host files they name
    copied = tmp_path / "copied"
    berthd.docker("cp", f"{name}:/leak", str(copied), check=True)
    assert copied.is_symlink() and os.readlink(copied) == str(secret)
    # into the container: a path through its links stays inside its root
    payload = tmp_path / "payload"
    payload.write_text("planted\n")
    berthd.docker("cp", str(payload), f"{name}:/out/dir/planted", check=True)
    assert not (tmp_path / "planted").exists()
    assert (
        berthd.docker("exec", name, "cat", f"{tmp_path}/planted").stdout == "planted\n"
    )  # inside the container
    berthd.docker("cp", str(payload), f"{name}:/rootlink/etc/planted", check=True)
    assert not Path("/etc/planted").exists()
    # a volume whose image path is a link to the host's /etc: the copy-up stays in the volume
    volume = _sh(
        berthd, busybox_image, "ls /etc/passwd > /dev/null && echo fine", "-v", f"vol-{name}:/rootlink/etc"
    )
    assert "fine" in volume and not Path("/etc/passwd").is_symlink()
