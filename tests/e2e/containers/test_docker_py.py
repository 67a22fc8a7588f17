"""docker-py (PyPI ``docker``) against berthd: containers, logs, exec, wait, and the low-level APIClient."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import docker
import pytest

from tests.e2e.conftest import Daemon

pytestmark = pytest.mark.root


def _client(berthd: Daemon) -> docker.DockerClient:
    return docker.DockerClient(base_url=berthd.host, timeout=60)


def test_version_and_info(berthd: Daemon) -> None:
    client = _client(berthd)
    assert client.version()["ApiVersion"] == "1.50"
    assert client.info()["Name"]
    assert client.ping() is True


def test_run_logs_exec_and_remove(berthd: Daemon, busybox_image: str) -> None:
    client = _client(berthd)
    assert client.containers.run(busybox_image, ["echo", "via docker-py"], remove=True) == b"via docker-py\n"
    container = client.containers.run(busybox_image, ["sleep", "60"], detach=True, name="py")
    container.reload()
    assert container.status == "running"
    exit_code, output = container.exec_run(["sh", "-c", "echo inside; exit 3"])
    assert (exit_code, output) == (3, b"inside\n")
    assert [c.name for c in client.containers.list()] == ["py"]
    container.kill()
    assert container.wait()["StatusCode"] == 137
    container.remove()
    assert client.containers.list(all=True) == []


def test_low_level_api_client(berthd: Daemon, busybox_image: str) -> None:
    api = docker.APIClient(base_url=berthd.host)
    created = api.create_container(busybox_image, ["sh", "-c", "echo out; echo err >&2"], name="low")
    api.start(created["Id"])
    assert api.wait(created["Id"])["StatusCode"] == 0
    assert api.logs(created["Id"], stdout=True, stderr=False) == b"out\n"
    assert api.logs(created["Id"], stdout=False, stderr=True) == b"err\n"
    assert api.inspect_container("low")["State"]["Status"] == "exited"
    api.remove_container("low")
    with pytest.raises(docker.errors.NotFound):
        api.inspect_container("low")


def test_every_exec_has_its_exit_code_once_its_stream_ends(berthd: Daemon, busybox_image: str) -> None:
    """The docker CLI asks for ExitCode as soon as an ``exec -it`` stream ends: it must be there, for
    every exec, with others running at once (an unreferenced reaper task was once garbage-collected
    mid-wait and ~1 in 6 such execs answered null, which the CLI reports as 0)."""
    api = docker.APIClient(base_url=berthd.host, timeout=60)
    container = api.create_container(busybox_image, ["sleep", "300"])["Id"]
    api.start(container)

    def one(code: int) -> tuple[int, object, object]:
        exec_id = api.exec_create(container, ["sh"], stdin=True, tty=True)["Id"]
        response = api.exec_start(exec_id, tty=True, socket=True)
        raw = response._sock
        try:
            raw.sendall(b"sleep 0.05; exit %d\n" % code)
            while response.read(4096):
                pass
        finally:
            response.close()
            raw.close()
        state = api.exec_inspect(exec_id)
        return code, state["ExitCode"], state["Running"]

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, [n % 7 + 1 for n in range(60)]))
    assert [r for r in results if r[1:] != (r[0], False)] == []
    api.remove_container(container, force=True)


def test_the_execs_of_a_removed_container_are_forgotten(berthd: Daemon, busybox_image: str) -> None:
    """As in Docker: an exec outlives its run (inspect shows its exit code) but not its container."""
    client = _client(berthd)
    api = client.api
    first = client.containers.run(busybox_image, ["sleep", "60"], detach=True)
    old = api.exec_create(first.id, ["sh", "-c", "exit 4"])["Id"]
    api.exec_start(old)
    assert api.exec_inspect(old)["ExitCode"] == 4
    first.remove(force=True)
    second = client.containers.run(busybox_image, ["sleep", "60"], detach=True)
    assert second.exec_run(["true"]).exit_code == 0
    with pytest.raises(docker.errors.NotFound, match="No such exec instance"):
        api.exec_inspect(old)
    second.remove(force=True)


def test_an_exec_starts_only_once_the_client_has_read_the_upgrade_answer(
    berthd: Daemon, busybox_image: str
) -> None:
    """docker-py reads an exec's stream from the socket past its HTTP parser's buffer, so output
    that came in one read with the ``101`` answer was lost (``exec_run`` → ``b""`` under load).
    A client slow to read the answer: the process starts after it has, and all its output comes."""
    import socket
    import time

    client = _client(berthd)
    container = client.containers.run(busybox_image, ["sleep", "60"], detach=True)
    exec_id = client.api.exec_create(container.id, ["cat", "/proc/uptime"])["Id"]
    body = b'{"Detach": false, "Tty": false}'
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(str(berthd.socket))
    sock.sendall(
        f"POST /v1.50/exec/{exec_id}/start HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\n"
        f"Upgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    time.sleep(0.5)  # the answer waits, unread
    read_at = time.clock_gettime(time.CLOCK_BOOTTIME)  # the clock of /proc/uptime
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)  # byte by byte: nothing past the answer is taken with it
    assert head.startswith(b"HTTP/1.1 101")
    stream = b""
    while chunk := sock.recv(65536):
        stream += chunk
    sock.close()
    assert stream[:1] == b"\x01"  # one stdout frame: the time the process ran at
    assert float(stream[8:].split()[0]) >= read_at - 0.01  # /proc/uptime has two decimals
    container.remove(force=True)
