"""docker-py (PyPI ``docker``) against berthd: the volume collection and volumes in containers."""

from __future__ import annotations

from pathlib import Path

import docker
import docker.errors
import pytest

from tests.e2e.conftest import Daemon

pytestmark = pytest.mark.root


def _client(berthd: Daemon) -> docker.DockerClient:
    return docker.DockerClient(base_url=berthd.host, timeout=60)


def test_volume_collection(berthd: Daemon) -> None:
    client = _client(berthd)
    volume = client.volumes.create(name="pyvol", driver="local", labels={"by": "docker-py"})
    assert volume.name == "pyvol"
    assert volume.attrs["Driver"] == "local" and volume.attrs["Labels"] == {"by": "docker-py"}
    assert [v.name for v in client.volumes.list()] == ["pyvol"]
    assert [v.name for v in client.volumes.list(filters={"label": "by=docker-py"})] == ["pyvol"]
    assert client.volumes.list(filters={"label": "by=someone-else"}) == []
    assert client.volumes.get("pyvol").attrs["Mountpoint"].endswith("/volumes/pyvol/_data")
    with pytest.raises(docker.errors.NotFound):
        client.volumes.get("absent")
    with pytest.raises(docker.errors.APIError) as bad:
        client.volumes.create(name="no/slashes")
    assert bad.value.status_code == 400
    volume.remove()
    assert client.volumes.list() == []


def test_volumes_in_containers(berthd: Daemon, busybox_image: str) -> None:
    client = _client(berthd)
    out = client.containers.run(
        busybox_image,
        ["sh", "-c", "echo py > /v/f"],
        volumes={"pyshared": {"bind": "/v", "mode": "rw"}},
        remove=True,
    )
    assert out == b""
    out = client.containers.run(busybox_image, ["cat", "/v/f"], volumes=["pyshared:/v:ro"], remove=True)
    assert out == b"py\n"
    holder = client.containers.create(busybox_image, ["true"], volumes=["pyshared:/v"])
    with pytest.raises(docker.errors.APIError) as in_use:
        client.volumes.get("pyshared").remove()
    assert in_use.value.status_code == 409
    assert f"volume is in use - [{holder.id}]" in str(in_use.value)
    mounts = client.api.inspect_container(holder.id)["Mounts"]
    assert [(m["Type"], m["Name"], m["Destination"]) for m in mounts] == [("volume", "pyshared", "/v")]
    holder.remove()
    client.volumes.get("pyshared").remove(force=True)


def test_prune(berthd: Daemon, busybox_image: str) -> None:
    client = _client(berthd)
    client.volumes.create(name="named")
    anon = client.volumes.create()  # no name: an anonymous-looking 64-hex name, but not labelled anonymous
    client.containers.run(busybox_image, ["true"], volumes=["/anon"], name="runner")
    client.containers.get("runner").remove()
    report = client.volumes.prune()
    assert len(report["VolumesDeleted"]) == 1 and report["SpaceReclaimed"] == 0
    assert sorted(v.name for v in client.volumes.list()) == sorted(["named", anon.name])
    report = client.volumes.prune(filters={"all": True})
    assert sorted(report["VolumesDeleted"]) == sorted(["named", anon.name])
    assert client.volumes.list() == []


def test_volume_create_options_and_cluster_fields(berthd: Daemon, busybox_image: str) -> None:
    """POST /volumes/create: DriverOpts mount as Docker's local driver does (type/device/o, at first
    use); ClusterVolumeSpec and PUT /volumes/{name} answer as a daemon outside a swarm."""
    client = _client(berthd)
    api = client.api
    volume = client.volumes.create(
        name="ram", driver="local", driver_opts={"type": "tmpfs", "device": "tmpfs", "o": "size=3m,mode=0750"}
    )
    assert volume.attrs["Options"] == {"type": "tmpfs", "device": "tmpfs", "o": "size=3m,mode=0750"}
    out = client.containers.run(
        busybox_image, ["sh", "-c", "stat -c %a /r; grep ' /r ' /proc/self/mountinfo"], remove=True,
        volumes={"ram": {"bind": "/r", "mode": "rw"}},
    ).decode()  # fmt: skip
    mode, _, line = out.partition("\n")
    assert mode == "750" and " - tmpfs tmpfs " in line and "size=3072k" in line
    # once no container uses it, the tmpfs is unmounted again (its content goes, as with Docker)
    assert not any(
        entry.split()[4] == volume.attrs["Mountpoint"]
        for entry in Path("/proc/self/mountinfo").read_text().splitlines()
    )
    for options, message in [
        ({"type": "tmpfs"}, 'create bad: missing required option: "device"'),
        ({"o": "size=1m", "device": "tmpfs"}, 'create bad: missing required option: "type"'),
        ({"colour": "red"}, 'create bad: invalid option: "colour"'),
    ]:
        with pytest.raises(docker.errors.APIError) as refused:
            client.volumes.create(name="bad", driver_opts=options)
        assert refused.value.status_code == 400 and message in str(refused.value.explanation)
    with pytest.raises(docker.errors.NotFound) as plugin:
        client.volumes.create(name="elsewhere", driver="nfsplugin")
    assert 'error looking up volume plugin nfsplugin: plugin "nfsplugin" not found' in str(
        plugin.value.explanation
    )
    cluster = api._post_json(
        api._url("/volumes/create"),
        data={"Name": "cv", "ClusterVolumeSpec": {"Group": "g", "AccessMode": {}}},
    )
    assert cluster.status_code == 503
    assert "This node is not a swarm manager." in cluster.json()["message"]
    update = api._put(api._url("/volumes/{0}", "ram") + "?version=1", json={"Spec": {}})
    assert update.status_code == 503
    assert (
        update.json()["message"] == "volume update only valid for cluster volumes, but swarm is unavailable"
    )
    assert sorted(v.name for v in client.volumes.list()) == ["ram"]
    volume.remove()
