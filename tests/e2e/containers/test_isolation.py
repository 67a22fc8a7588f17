"""Isolation a container gets by default: namespaces, /proc, /sys, /dev, capabilities, no_new_privs."""

from __future__ import annotations

import os

import pytest

from tests.e2e.conftest import Daemon

pytestmark = pytest.mark.root

DOCKER_DEFAULT_CAPS = 0x00000000A80425FB  # CHOWN … AUDIT_WRITE, the 14 Docker grants


def _sh(berthd: Daemon, image: str, script: str, *flags: str) -> str:
    result = berthd.berth("run", "--rm", *flags, image, "sh", "-c", script)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_command_is_pid_1_and_sees_only_its_processes(berthd: Daemon, busybox_image: str) -> None:
    out = _sh(berthd, busybox_image, "echo $$; ls /proc | grep -E '^[0-9]+$' | wc -l")
    pid, count = out.split()
    assert pid == "1"
    assert int(count) <= 4  # sh and the ls | grep | wc pipeline


def test_namespaces_differ_from_the_host(berthd: Daemon, busybox_image: str) -> None:
    out = _sh(berthd, busybox_image, "for n in pid mnt uts ipc net cgroup; do readlink /proc/1/ns/$n; done")
    host = [os.readlink(f"/proc/self/ns/{n}") for n in ("pid", "mnt", "uts", "ipc", "net", "cgroup")]
    assert out.split() != host
    assert not set(out.split()) & set(host)


def test_capabilities_and_no_new_privileges(berthd: Daemon, busybox_image: str) -> None:
    out = _sh(berthd, busybox_image, "grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status")
    fields = dict(line.split(":\t") for line in out.strip().splitlines())
    assert int(fields["CapEff"], 16) == DOCKER_DEFAULT_CAPS
    assert int(fields["CapBnd"], 16) == DOCKER_DEFAULT_CAPS
    # Docker sets no_new_privs only with --security-opt no-new-privileges
    assert fields["NoNewPrivs"].strip() == "0"


def test_sys_is_read_only_and_proc_paths_are_masked(berthd: Daemon, busybox_image: str) -> None:
    masked = next(
        p for p in ("/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/interrupts") if os.path.exists(p)
    )
    out = _sh(
        berthd, busybox_image,
        f"touch /sys/x 2>/dev/null || echo sys-ro; wc -c < {masked}; "
        "echo 1 > /proc/sys/kernel/domainname 2>/dev/null || echo procsys-ro",
    )  # fmt: skip
    assert out.split() == ["sys-ro", "0", "procsys-ro"]


def test_dev_holds_only_safe_devices(berthd: Daemon, busybox_image: str) -> None:
    out = _sh(berthd, busybox_image, "ls /dev")
    names = set(out.split())
    assert {"null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue"} <= names
    assert not names & {"sda", "vda", "mem", "kmsg", "port"}


def test_generated_etc_files(berthd: Daemon, busybox_image: str) -> None:
    out = _sh(
        berthd,
        busybox_image,
        "cat /etc/hostname; grep -c localhost /etc/hosts; test -f /etc/resolv.conf && echo resolv",
        "-h",
        "named",
    )
    assert out.split() == ["named", "2", "resolv"]


def test_network_none_has_only_loopback_and_host_shares(berthd: Daemon, busybox_image: str) -> None:
    out = _sh(berthd, busybox_image, "ls /sys/class/net", "--network", "none")
    assert out.split() == ["lo"]
    host = _sh(berthd, busybox_image, "readlink /proc/1/ns/net", "--network", "host")
    assert host.strip() == os.readlink("/proc/self/ns/net")


def test_writes_stay_in_the_container_layer(berthd: Daemon, busybox_image: str) -> None:
    _sh(berthd, busybox_image, "echo changed > /etc/motd-test; rm /bin/vi")
    out = _sh(berthd, busybox_image, "test -e /etc/motd-test && echo leaked; test -e /bin/vi && echo intact")
    assert out.split() == ["intact"]
