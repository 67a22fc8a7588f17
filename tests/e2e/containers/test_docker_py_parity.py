"""What docker-py (and the docker CLI) rely on, as Docker 28 answers it: kill, exec start's Tty and
ConsoleSize, exec DetachKeys, diff, info's counts, load of a non-archive."""

from __future__ import annotations

import json
import time

import docker
import pytest

from tests.e2e.conftest import Daemon

pytestmark = pytest.mark.root


def _client(berthd: Daemon) -> docker.DockerClient:
    return docker.DockerClient(base_url=berthd.host, timeout=60)


def test_sigkill_returns_once_the_container_has_exited(berthd: Daemon, busybox_image: str) -> None:
    """dockerd's kill with SIGKILL waits for the exit: ``rm`` (without force) right after works."""
    client = _client(berthd)
    for _ in range(5):
        container = client.containers.run(busybox_image, ["sleep", "300"], detach=True)
        container.kill()
        container.reload()
        assert container.status == "exited"
        assert container.attrs["State"]["ExitCode"] == 137
        container.remove()
    name = "cli-kill"
    berthd.docker("run", "-d", "--name", name, busybox_image, "sleep", "300", check=True)
    berthd.docker("kill", name, check=True)
    berthd.docker("rm", name, check=True)


def test_other_signals_return_at_once(berthd: Daemon, busybox_image: str) -> None:
    client = _client(berthd)
    container = client.containers.run(
        busybox_image, ["sh", "-c", "trap 'echo got' TERM; while :; do sleep 0.1; done"], detach=True
    )
    time.sleep(0.5)
    started = time.monotonic()
    container.kill(signal="SIGTERM")
    assert time.monotonic() - started < 2
    container.reload()
    assert container.status == "running"
    container.kill()


def test_exec_start_tty_chooses_the_stream_shape(berthd: Daemon, busybox_image: str) -> None:
    """As dockerd: the process has a terminal when the exec was created with Tty; the start's Tty
    decides whether the answer is a raw stream (true) or stdcopy frames (false)."""
    api = docker.APIClient(base_url=berthd.host, timeout=60)
    container = api.create_container(busybox_image, ["sleep", "300"])["Id"]
    api.start(container)
    script = "[ -t 1 ] && echo tty || echo pipe; echo err >&2"
    piped = api.exec_create(container, ["sh", "-c", script], tty=False)["Id"]
    raw = api.exec_start(piped, tty=True)  # docker-py reads a raw stream: no frame headers
    assert sorted(raw.splitlines()) == [b"err", b"pipe"]
    on_tty = api.exec_create(container, ["sh", "-c", script], tty=True)["Id"]
    out, err = api.exec_start(on_tty, tty=False, demux=True)  # frames: the terminal's bytes as stdout
    assert (out, err) == (b"tty\r\nerr\r\n", None)
    api.kill(container)


def test_exec_start_console_size(berthd: Daemon, busybox_image: str) -> None:
    """Exec start's ``ConsoleSize`` sizes the terminal before the process runs (none without Tty)."""
    api = docker.APIClient(base_url=berthd.host, timeout=60)
    container = api.create_container(busybox_image, ["sleep", "300"])["Id"]
    api.start(container)
    exec_id = api.exec_create(container, ["stty", "size"], tty=True)["Id"]
    response = api._post_json(
        api._url("/exec/{0}/start", exec_id), data={"Detach": False, "Tty": True, "ConsoleSize": [33, 111]}
    )
    assert response.content.strip() == b"33 111"
    created_sized = api._post_json(
        api._url("/containers/{0}/exec", container),
        data={"Cmd": ["stty", "size"], "Tty": True, "AttachStdout": True, "ConsoleSize": [20, 70]},
    ).json()["Id"]
    assert api.exec_start(created_sized, tty=True).strip() == b"20 70"
    bad = api._post_json(
        api._url("/containers/{0}/exec", container), data={"Cmd": ["true"], "ConsoleSize": [1, 2, 3]}
    )
    assert bad.status_code == 400
    api.kill(container)


def test_exec_detach_keys_checked_at_create(berthd: Daemon, busybox_image: str) -> None:
    api = docker.APIClient(base_url=berthd.host, timeout=60)
    container = api.create_container(busybox_image, ["sleep", "300"])["Id"]
    api.start(container)
    with pytest.raises(docker.errors.APIError) as raised:
        api.exec_create(container, ["true"], detach_keys="ctrl-")
    assert raised.value.response.status_code == 400
    assert "Invalid escape keys (ctrl-) provided" in str(raised.value)
    exec_id = api.exec_create(container, ["true"], detach_keys="ctrl-a,x")["Id"]
    assert api.exec_inspect(exec_id)["DetachKeys"] == "ctrl-a,x"
    api.kill(container)


def test_diff_hides_the_init_layer(berthd: Daemon, busybox_image: str) -> None:
    """``docker diff`` lists what the container changed, not /etc/hosts, /etc/hostname,
    /etc/resolv.conf or the other paths Docker keeps in the init layer."""
    berthd.docker(
        "run", "--name", "dd", busybox_image, "sh", "-c", "touch /tmp/new; echo x > /etc/motd", check=True
    )
    changes = berthd.docker("diff", "dd", check=True).stdout.splitlines()
    assert changes == ["C /etc", "A /etc/motd", "C /tmp", "A /tmp/new"]
    berthd.docker("run", "--name", "quiet", busybox_image, "true", check=True)
    assert berthd.docker("diff", "quiet", check=True).stdout == ""
    assert _client(berthd).api.diff("quiet") is None


def test_info_counts_every_image_and_container(berthd: Daemon, busybox_image: str) -> None:
    """info.Images counts every image (as dockerd), intermediate ones included: what
    ``docker images -a`` lists; Containers* as ps -a shows them."""
    berthd.docker("run", "--name", "base", busybox_image, "touch", "/a", check=True)
    berthd.docker("commit", "base", "layer:one", check=True)
    berthd.docker("run", "--name", "child", "layer:one", "touch", "/b", check=True)
    berthd.docker("commit", "child", "layer:two", check=True)
    berthd.docker("rm", "child", check=True)
    berthd.docker("rmi", "layer:one", check=True)  # an untagged parent: shown only by images -a
    listed = set(berthd.docker("images", "-a", "-q", "--no-trunc", check=True).stdout.split())
    shown = set(berthd.docker("images", "-q", "--no-trunc", check=True).stdout.split())
    assert len(listed) > len(shown)
    berthd.docker("run", "-d", "--name", "up", busybox_image, "sleep", "300", check=True)
    info = json.loads(berthd.docker("info", "--format", "{{json .}}", check=True).stdout)
    assert info["Images"] == len(listed)
    assert (info["Containers"], info["ContainersRunning"], info["ContainersStopped"]) == (2, 1, 1)
    assert info["Plugins"]["Log"] == ["json-file", "local"]
    berthd.docker("kill", "up", check=True)


def test_load_of_garbage_is_refused_and_stores_nothing(berthd: Daemon) -> None:
    """dockerd answers Go's archive/tar error for a body that is not a tar (Berth with a 400: the
    client's fault, never a server error)."""
    client = _client(berthd)
    with pytest.raises(docker.errors.APIError) as raised:
        client.images.load(b"garbage")
    assert raised.value.response.status_code == 400
    assert raised.value.explanation == "unexpected EOF"
    with pytest.raises(docker.errors.APIError) as raised:
        client.images.load(b"x" * 2048)
    assert raised.value.explanation == "archive/tar: invalid tar header"
    result = berthd.docker("load", input=b"garbage")
    assert result.returncode == 1
    assert "Error response from daemon: unexpected EOF" in result.stderr
    assert client.images.list(all=True) == []
    blobs = berthd.data_root / "content"
    assert not [p for p in blobs.rglob("*") if p.is_file()] if blobs.exists() else True
