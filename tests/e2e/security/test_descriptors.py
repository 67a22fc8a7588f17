"""No descriptor of the runtime or the daemon reaches a container's processes (the runc
CVE-2024-21626 class): a shell started by run or exec, with and without a terminal, holds only its
stdio, and its terminal is one of the container's own devpts."""

from __future__ import annotations

import docker
import pytest

from tests.e2e.conftest import Daemon

pytestmark = pytest.mark.root

# the shell's own descriptors above 2 (tested by the shell itself: no child holds a directory open),
# then what its stdin is
OWN_FDS = (
    'for i in $(seq 3 255); do [ -e /proc/$$/fd/$i ] && printf "%s " $i; done; echo; readlink /proc/$$/fd/0'
)


def _fds(output: bytes | str) -> tuple[list[str], str]:
    text = output.decode() if isinstance(output, bytes) else output
    extra, stdin = text.replace("\r", "").split("\n")[:2]
    return extra.split(), stdin.strip()


def test_run_and_exec_hold_only_their_stdio(berthd: Daemon, busybox_image: str) -> None:
    client = docker.DockerClient(base_url=berthd.host, timeout=60)
    for tty in (False, True):
        out = client.containers.run(busybox_image, ["sh", "-c", OWN_FDS], tty=tty, remove=True)
        fds, stdin = _fds(out)
        assert fds == [], (tty, out)
        assert stdin == ("/dev/pts/0" if tty else "/dev/null"), (tty, out)
    container = client.containers.run(busybox_image, ["sleep", "300"], detach=True)
    for tty in (False, True):
        code, out = container.exec_run(["sh", "-c", OWN_FDS], tty=tty)
        fds, stdin = _fds(out)
        assert code == 0 and fds == [], (tty, out)
        assert stdin.startswith("/dev/pts/") if tty else stdin.startswith(("/dev/null", "pipe:")), (tty, out)
    # the CLI's own: docker exec -t names the container's pty
    named = berthd.docker("exec", "-t", container.id, "tty", check=True).stdout.strip()
    assert named.startswith("/dev/pts/"), named
