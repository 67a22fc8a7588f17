"""A container's network fields as Docker 28 has them, checked inside the container: legacy links,
--mac-address, --network container:X, NetworkDisabled, the deprecated top-level NetworkSettings, and
Docker's refusals of bad input. Driven with the docker CLI and docker-py."""

from __future__ import annotations

import os
from typing import Any

import docker
import pytest

from tests.e2e.conftest import Daemon
from tests.e2e.networks.conftest import lookup
from tests.e2e.results import inspect, ok, refused

pytestmark = pytest.mark.root


def api_error(client: docker.DockerClient, path: str, body: dict[str, Any]) -> str:
    """POST a raw body and return the daemon's error message (the request must fail with 400)."""
    response = client.api._post_json(client.api._url(path), data=body)
    assert response.status_code == 400, (response.status_code, response.text)
    return str(response.json()["message"])


def test_legacy_links_on_the_default_bridge(berthd: Daemon, busybox_image: str) -> None:
    ok(berthd.docker("run", "-d", "--name", "db", "-h", "dbhost", "-e", "SECRET=s3", "--expose", "80",
                     "--expose", "81", busybox_image, "sleep", "300"))  # fmt: skip
    db_ip = inspect(berthd, "db")["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    ok(berthd.docker("run", "-d", "--name", "me", "--link", "db:al", busybox_image, "sleep", "300"))
    hosts = ok(berthd.docker("exec", "me", "cat", "/etc/hosts"))
    assert f"{db_ip}\tal dbhost db\n" in hosts
    assert ok(berthd.docker("exec", "me", "ping", "-c", "1", "-W", "2", "al"))
    env = set(ok(berthd.docker("exec", "me", "env")).splitlines())
    assert {
        f"AL_PORT=tcp://{db_ip}:80", f"AL_PORT_80_TCP=tcp://{db_ip}:80", f"AL_PORT_80_TCP_ADDR={db_ip}",
        "AL_PORT_80_TCP_PORT=80", "AL_PORT_80_TCP_PROTO=tcp", f"AL_PORT_81_TCP=tcp://{db_ip}:81",
        f"AL_PORT_80_TCP_START=tcp://{db_ip}:80", "AL_PORT_80_TCP_PORT_END=81", "AL_NAME=/me/al",
        "AL_ENV_SECRET=s3",
    } <= env  # fmt: skip
    assert inspect(berthd, "me")["HostConfig"]["Links"] == ["/db:/me/al"]
    assert "AL_NAME" not in " ".join(inspect(berthd, "me")["Config"]["Env"])  # not in Config, as Docker
    ok(berthd.docker("rename", "db", "dbx"))  # links follow renames, as Docker's link index
    ok(berthd.docker("rename", "me", "me2"))
    assert inspect(berthd, "me2")["HostConfig"]["Links"] == ["/dbx:/me2/al"]
    # docker rm --link: the link goes, both containers stay
    ok(berthd.docker("rm", "--link", "/me2/al"))
    assert inspect(berthd, "me2")["HostConfig"]["Links"] is None
    assert "\tal " not in ok(berthd.docker("exec", "me2", "cat", "/etc/hosts"))
    assert ok(berthd.docker("ps", "-q")).count("\n") == 2
    refused(
        berthd.docker("run", "--rm", "--link", "ghost:g", busybox_image, "true"),
        "could not get container for ghost",
    )
    ok(berthd.docker("stop", "-t", "1", "dbx"))
    ok(berthd.docker("create", "--name", "late", "--link", "dbx", busybox_image, "true"))
    refused(berthd.docker("start", "late"), "Cannot link to a non running container: /dbx AS /late/dbx")


def test_links_on_a_user_network_are_aliases(berthd: Daemon, busybox_image: str) -> None:
    ok(berthd.docker("network", "create", "app"))
    ok(berthd.docker("run", "-d", "--name", "db2", "--network", "app", busybox_image, "sleep", "300"))
    ok(berthd.docker("run", "-d", "--name", "web", "--network", "app", "--link", "db2:database",
                     busybox_image, "sleep", "300"))  # fmt: skip
    db_ip = inspect(berthd, "db2")["NetworkSettings"]["Networks"]["app"]["IPAddress"]
    assert lookup(berthd, "web", "database") == [db_ip]  # the embedded DNS answers the link's alias
    web = inspect(berthd, "web")
    assert web["HostConfig"]["Links"] is None
    assert web["NetworkSettings"]["Networks"]["app"]["Links"] == ["db2:database"]
    # the alias is web's only: db2 does not resolve it
    assert lookup(berthd, "db2", "database") == []


def test_mac_address_reaches_the_interface(berthd: Daemon, busybox_image: str) -> None:
    mac = "02:aa:bb:cc:dd:01"
    shown = ok(
        berthd.docker(
            "run", "--rm", "--mac-address", mac, busybox_image, "cat", "/sys/class/net/eth0/address"
        )
    )
    assert shown.strip() == mac
    ok(berthd.docker("network", "create", "macnet"))
    ok(berthd.docker("run", "-d", "--name", "mm", "--network", "macnet", "--mac-address", "02:AA:BB:CC:DD:02",
                     busybox_image, "sleep", "300"))  # fmt: skip
    assert (
        ok(berthd.docker("exec", "mm", "cat", "/sys/class/net/eth0/address")).strip() == "02:aa:bb:cc:dd:02"
    )
    assert inspect(berthd, "mm")["NetworkSettings"]["Networks"]["macnet"]["MacAddress"] == "02:aa:bb:cc:dd:02"
    refused(berthd.docker("run", "--rm", "--network", "host", "--mac-address", mac, busybox_image, "true"),
            "conflicting options: mac-address and the network mode")  # fmt: skip
    refused(berthd.docker("run", "--rm", "--network", "none", "--mac-address", mac, busybox_image, "true"),
            "conflicting options: mac-address and the network mode")  # fmt: skip
    client = docker.DockerClient(base_url=berthd.host, timeout=60)
    # the deprecated Config.MacAddress (docker-py's mac_address) moves to the main endpoint
    container = client.api.create_container(busybox_image, ["cat", "/sys/class/net/eth0/address"],
                                            mac_address="02:aa:bb:cc:dd:03")  # fmt: skip
    client.api.start(container["Id"])
    client.api.wait(container["Id"])
    assert client.api.logs(container["Id"]).decode().strip() == "02:aa:bb:cc:dd:03"
    bad = api_error(
        client, "/containers/create", {"Image": busybox_image, "Cmd": ["true"], "MacAddress": "zz"}
    )
    assert bad == "invalid config for network bridge: invalid MAC address zz"
    bad = api_error(client, "/containers/create", {
        "Image": busybox_image, "Cmd": ["true"], "HostConfig": {"NetworkMode": "macnet"},
        "NetworkingConfig": {"EndpointsConfig": {"macnet": {"MacAddress": "02:aa:bb:cc:dd"}}},
    })  # fmt: skip
    assert bad == "invalid config for network macnet: invalid MAC address 02:aa:bb:cc:dd"


def test_container_mode_shares_the_name_files(berthd: Daemon, busybox_image: str) -> None:
    ok(berthd.docker("run", "-d", "--name", "pod", "-h", "podhost", "--add-host", "extra:10.1.2.3",
                     "--dns", "10.9.9.9", busybox_image, "sleep", "300"))  # fmt: skip
    out = ok(berthd.docker("run", "--rm", "--network", "container:pod", busybox_image, "sh", "-c",
                           "hostname; cat /etc/hostname; echo $HOSTNAME; cat /etc/hosts /etc/resolv.conf"))  # fmt: skip
    lines = out.splitlines()
    assert lines[:3] == ["podhost", "podhost", "podhost"]
    assert "10.1.2.3\textra" in lines and "nameserver 10.9.9.9" in lines
    ok(berthd.docker("create", "--name", "side", "--network", "container:pod", busybox_image, "sleep", "300"))
    ok(berthd.docker("start", "side"))
    side, pod = inspect(berthd, "side"), inspect(berthd, "pod")
    assert side["Config"]["Hostname"] == "podhost" and side["HostsPath"] == pod["HostsPath"]
    for flags, message in [
        (["-h", "other"], "conflicting options: hostname and the network mode"),
        (["--dns", "1.1.1.1"], "conflicting options: dns and the network mode"),
        (["--add-host", "a:1.2.3.4"], "conflicting options: custom host-to-IP mapping and the network mode"),
        (["-p", "8080:80"], "conflicting options: port publishing and the container type network mode"),
        (["--expose", "80"], "conflicting options: port exposing and the container type network mode"),
        (["--mac-address", "02:00:00:00:00:09"], "conflicting options: mac-address and the network mode"),
        (["--link", "pod:p"], "conflicting options: container type network can't be used with links"),
    ]:
        refused(
            berthd.docker("run", "--rm", "--network", "container:pod", *flags, busybox_image, "true"), message
        )


def test_top_level_network_settings_are_the_default_bridges(berthd: Daemon, busybox_image: str) -> None:
    ok(berthd.docker("run", "-d", "--name", "bb", busybox_image, "sleep", "300"))
    settings = inspect(berthd, "bb")["NetworkSettings"]
    bridge = settings["Networks"]["bridge"]
    for key in ("IPAddress", "IPPrefixLen", "Gateway", "MacAddress", "EndpointID"):
        assert settings[key] == bridge[key] and settings[key], key
    assert settings["GlobalIPv6Address"] == "" and settings["Bridge"] == ""
    assert settings["SecondaryIPAddresses"] is None
    pid = inspect(berthd, "bb")["State"]["Pid"]
    assert os.stat(settings["SandboxKey"]).st_ino == os.stat(f"/proc/{pid}/ns/net").st_ino
    inside = ok(berthd.docker("exec", "bb", "ip", "-o", "-4", "addr", "show", "eth0"))
    assert f"{settings['IPAddress']}/{settings['IPPrefixLen']}" in inside
    client = docker.DockerClient(base_url=berthd.host, timeout=60)
    assert client.containers.get("bb").attrs["NetworkSettings"]["IPAddress"] == settings["IPAddress"]
    ok(berthd.docker("network", "create", "other"))
    ok(berthd.docker("run", "-d", "--name", "uu", "--network", "other", busybox_image, "sleep", "300"))
    user = inspect(berthd, "uu")["NetworkSettings"]
    assert user["IPAddress"] == "" and user["Networks"]["other"]["IPAddress"]


def test_network_disabled_gives_loopback_only(berthd: Daemon, busybox_image: str) -> None:
    client = docker.DockerClient(base_url=berthd.host, timeout=60)
    container = client.api.create_container(busybox_image, ["ip", "-o", "link"], network_disabled=True)
    client.api.start(container["Id"])
    client.api.wait(container["Id"])
    links = client.api.logs(container["Id"]).decode().splitlines()
    assert len(links) == 1 and ": lo:" in links[0] and "UP" in links[0], links
    assert inspect(berthd, container["Id"])["NetworkSettings"]["Networks"] == {}


def test_bad_port_bindings_are_refused(berthd: Daemon, busybox_image: str) -> None:
    client = docker.DockerClient(base_url=berthd.host, timeout=60)

    def create(bindings: dict[str, Any]) -> str:
        host = {"PortBindings": bindings}
        return api_error(
            client, "/containers/create", {"Image": busybox_image, "Cmd": ["true"], "HostConfig": host}
        )

    assert create({"80/tcp": [{"HostPort": "99999"}]}) == 'invalid port specification: "99999"'
    assert create({"80/tcp": [{"HostPort": "http"}]}) == 'invalid port specification: "http"'
    assert create({"eighty/tcp": [{"HostPort": "8080"}]}) == 'invalid port specification: "eighty"'
    assert (
        create({"80/tcp": [{"HostIp": "not-an-ip", "HostPort": "8080"}]})
        == "invalid host IP address: not-an-ip"
    )
    assert client.containers.list(all=True) == []
