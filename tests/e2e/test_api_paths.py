"""Every path and method of the Engine API spec (v1.50) answers something other than "page not found"
from a real berthd: implemented, or refused as dockerd 28 refuses it (swarm inactive, no plugins, no
BuildKit session). Called with dummy parameters: what matters is that the route exists."""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from berth.testing.daemon import Daemon

SPEC = Path(__file__).resolve().parents[3] / "shared" / "reference" / "docker-engine-api-v1.50.yaml"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def _operations() -> list[tuple[str, str]]:
    spec: dict[str, Any] = yaml.safe_load(SPEC.read_text())
    ops = []
    for path, item in spec["paths"].items():
        for method in item:
            if method in ("get", "post", "put", "delete", "head"):
                ops.append((method.upper(), path))
    return sorted(ops)


def _dummy(path: str) -> str:
    out = path
    while "{" in out:
        start = out.index("{")
        end = out.index("}", start)
        out = out[:start] + "berth-dummy" + out[end + 1 :]
    return out


def ask(daemon: Daemon, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    """The status and the start of the body (streams are not read to their end)."""
    conn = _UnixConnection(str(daemon.socket), timeout=20)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, "/v1.50" + path, body=body, headers=headers)
        resp = conn.getresponse()
        try:
            data = resp.read(4096) if method != "HEAD" else b""
        except TimeoutError:
            data = b""
        return resp.status, data
    finally:
        conn.close()


def test_every_spec_path_is_routed(berthd: Daemon) -> None:
    missing = []
    for method, path in _operations():
        body = b"{}" if method in ("POST", "PUT") else None
        status, data = ask(berthd, method, _dummy(path), body)
        unrouted = status == 405 or (status == 404 and b"page not found" in data)
        if unrouted:
            missing.append(f"{method} {path} -> {status} {data[:80]!r}")
    assert missing == [], "\n".join(missing)


# -- what the unrouted-before paths answer: dockerd 28's words with swarm inactive and no plugins ----

NOT_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this '
    "node to swarm and try again."
)


@pytest.mark.parametrize(
    ("method", "path", "status", "message"),
    [
        ("GET", "/swarm", 503, NOT_MANAGER),
        ("POST", "/swarm/leave?force=1", 503, "This node is not part of a swarm"),
        ("POST", "/swarm/unlock", 503, NOT_MANAGER),
        ("GET", "/swarm/unlockkey", 503, NOT_MANAGER),
        ("GET", "/nodes", 503, NOT_MANAGER),
        ("GET", "/services", 503, NOT_MANAGER),
        ("POST", "/services/create", 503, NOT_MANAGER),
        ("GET", "/tasks", 503, NOT_MANAGER),
        ("GET", "/secrets", 503, NOT_MANAGER),
        ("GET", "/configs/abc", 503, NOT_MANAGER),
        (
            "PUT",
            "/volumes/v?version=1",
            503,
            "volume update only valid for cluster volumes, but swarm is unavailable",
        ),
        ("GET", "/plugins/vieux/sshfs:latest/json", 404, 'plugin "vieux/sshfs:latest" not found'),
        ("DELETE", "/plugins/sshfs", 404, 'plugin "sshfs" not found'),
        ("POST", "/plugins/sshfs/enable", 404, 'plugin "sshfs" not found'),
    ],
)
def test_swarm_and_plugin_answers(berthd: Daemon, method: str, path: str, status: int, message: str) -> None:
    body = b"{}" if method in ("POST", "PUT") else None
    got, data = ask(berthd, method, path, body)
    assert (got, json.loads(data)["message"]) == (status, message)


def test_no_plugins_and_no_buildkit(berthd: Daemon) -> None:
    assert ask(berthd, "GET", "/plugins") == (200, b"[]")
    status, data = ask(berthd, "POST", "/session", b"")
    assert status == 501 and b"BuildKit is not supported by this daemon" in data
    status, data = ask(berthd, "POST", "/swarm/init", b"{}")
    assert status == 501 and b"Berth has no swarm mode" in data
    status, data = ask(berthd, "GET", "/plugins/privileges?remote=vieux/sshfs")
    assert status != 404 or b"page not found" not in data
    assert b"error resolving plugin reference" in data


def test_docker_cli_swarm_and_plugin_commands(berthd: Daemon) -> None:
    """What a docker user sees: dockerd's messages, ``Swarm: inactive``, an empty plugin list."""
    info = berthd.docker("info", "--format", "{{.Swarm.LocalNodeState}}")
    assert info.stdout.strip() == "inactive", info.stderr
    leave = berthd.docker("swarm", "leave", "--force")
    assert leave.returncode == 1
    assert leave.stderr.strip() == "Error response from daemon: This node is not part of a swarm"
    nodes = berthd.docker("node", "ls")
    assert nodes.returncode == 1 and nodes.stderr.strip() == f"Error response from daemon: {NOT_MANAGER}"
    init = berthd.docker("swarm", "init")
    assert init.returncode == 1 and "Berth has no swarm mode" in init.stderr
    plugins = berthd.docker("plugin", "ls", "-q")
    assert (plugins.returncode, plugins.stdout) == (0, "")
    inspect = berthd.docker("plugin", "inspect", "sshfs")
    assert inspect.returncode == 1 and "sshfs" in inspect.stderr and "not found" in inspect.stderr.lower()


def test_docker_py_swarm_leave_gets_503(berthd: Daemon) -> None:
    """docker-py's integration tests leave the swarm in their tear-down: with ``force`` docker-py takes
    a 503 as "not in a swarm" and succeeds (a 404 would raise); without it, the 503 is an APIError."""
    import docker

    client = docker.DockerClient(base_url=berthd.host, version="1.50")
    try:
        assert client.swarm.leave(force=True) is True
        with pytest.raises(docker.errors.APIError) as err:
            client.swarm.leave()
        assert err.value.status_code == 503
        assert client.plugins.list() == []
    finally:
        client.close()


def test_distribution_inspect_resolves_against_the_registry(
    berthd: Daemon, busybox_image: str, tmp_path: Path
) -> None:
    """GET /distribution/{name}/json: the pushed manifest's descriptor and platform, through the same
    registry client a pull uses; docker-py's ``images.get_registry_data`` works; a missing tag is 404."""
    import docker

    from berth.testing.registry import start_berth_registry

    registry = start_berth_registry(tmp_path / "registry", admins={"alice": "secret"})
    client = docker.DockerClient(base_url=berthd.host, version="1.50")
    try:
        name = f"{registry.host}/alice/busybox:1"
        login = berthd.berth("login", "-u", "alice", "--password-stdin", registry.host, input=b"secret\n")
        assert login.returncode == 0, login.stderr
        assert berthd.berth("tag", busybox_image, name).returncode == 0
        pushed = berthd.berth("push", name)
        assert pushed.returncode == 0, pushed.stderr
        digest = next(w for w in pushed.stdout.split() if w.startswith("sha256:"))
        auth = {"username": "alice", "password": "secret", "serveraddress": registry.host}
        data = client.images.get_registry_data(name, auth_config=auth)
        assert data.id == digest
        assert data.attrs["Descriptor"]["digest"] == digest
        assert data.attrs["Descriptor"]["size"] > 0
        assert data.attrs["Descriptor"]["mediaType"].endswith("+json")
        arch = berthd.docker("version", "--format", "{{.Server.Arch}}").stdout.strip()
        assert data.attrs["Platforms"] == [{"architecture": arch, "os": "linux"}]
        assert data.has_platform(f"linux/{arch}")
        with pytest.raises(docker.errors.NotFound):
            client.images.get_registry_data(f"{registry.host}/alice/busybox:missing", auth_config=auth)
    finally:
        client.close()
        registry.stop()
