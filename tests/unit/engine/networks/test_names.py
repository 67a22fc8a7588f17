"""What the embedded DNS is told about a network's names (NetworkNames over container records)."""

from __future__ import annotations

from pathlib import Path

from berth.engine.containers.container import Container, ContainerStatus
from berth.engine.networks.names import NetworkNames, nameservers


def _container(
    tmp_path: Path, name: str, cid: str, endpoints: dict[str, dict[str, object]], **host: object
) -> Container:
    c = Container(
        container_id=cid * 64 if len(cid) == 1 else cid, name="/" + name, created="", image="i", image_id="",
        config={}, host_config=dict(host), path="true", args=[], directory=tmp_path / name,
    )  # fmt: skip
    c.status = ContainerStatus.RUNNING
    c.endpoints = endpoints
    return c


def _names(containers: list[Container], tmp_path: Path, internal: bool = False) -> NetworkNames:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("search example.org\nnameserver 10.255.255.53\nnameserver 127.0.0.53\n")
    return NetworkNames(
        lambda: containers, named=lambda n: n != "bridge", internal=lambda n: internal, host_resolv=resolv
    )


def test_names_aliases_links_and_their_families(tmp_path: Path) -> None:
    web = _container(tmp_path, "web", "a", {"app": {"IPAddress": "10.0.0.2", "GlobalIPv6Address": "fd00::2",
                                                    "Aliases": ["Front"]}})  # fmt: skip
    api = _container(tmp_path, "api", "b", {"app": {"IPAddress": "10.0.0.3", "Links": ["web:site"]}})
    names = _names([web, api], tmp_path)
    assert names.resolve("app", "10.0.0.3", "web", 4) == ["10.0.0.2"]
    assert names.resolve("app", "10.0.0.3", "web", 6) == ["fd00::2"]
    assert names.resolve("app", "10.0.0.3", "aaaaaaaaaaaa", 4) == ["10.0.0.2"]  # the short id
    assert names.resolve("app", "10.0.0.3", "front", 4) == ["10.0.0.2"]
    assert names.resolve("app", "10.0.0.3", "site", 4) == ["10.0.0.2"]  # api's own link alias
    assert names.resolve("app", "10.0.0.2", "site", 4) is None  # …and only api's
    assert names.resolve("app", "10.0.0.2", "api", 6) == []  # known, no IPv6 address: NODATA
    assert names.resolve("app", "10.0.0.2", "example.com", 4) is None  # forwarded
    assert names.reverse("app", "10.0.0.3", "10.0.0.2") == "web.app"


def test_the_default_bridge_has_no_names_but_a_connected_network_does(tmp_path: Path) -> None:
    loner = _container(tmp_path, "loner", "c", {"bridge": {"IPAddress": "172.30.0.2"}})
    roamer = _container(tmp_path, "roamer", "d", {"bridge": {"IPAddress": "172.30.0.3"},
                                                  "side": {"IPAddress": "10.1.0.3"}})  # fmt: skip
    peer = _container(tmp_path, "peer", "e", {"side": {"IPAddress": "10.1.0.2"}})
    names = _names([loner, roamer, peer], tmp_path)
    assert names.resolve("bridge", "172.30.0.3", "loner", 4) is None
    assert names.resolve("bridge", "172.30.0.3", "peer", 4) == ["10.1.0.2"]


def test_round_robin_and_upstreams(tmp_path: Path) -> None:
    one = _container(tmp_path, "one", "f", {"n": {"IPAddress": "10.2.0.2", "Aliases": ["pool"]}})
    two = _container(
        tmp_path, "two", "9", {"n": {"IPAddress": "10.2.0.3", "Aliases": ["pool"]}}, Dns=["192.0.2.53"]
    )
    names = _names([one, two], tmp_path)
    answers = [names.resolve("n", "10.2.0.2", "pool", 4) for _ in range(2)]
    assert answers[0] != answers[1] and sorted(answers[0] or []) == ["10.2.0.2", "10.2.0.3"]
    assert names.upstreams("n", "10.2.0.2") == ["10.255.255.53", "127.0.0.53"]
    assert names.upstreams("n", "10.2.0.3") == ["192.0.2.53"]  # its --dns
    assert _names([one], tmp_path, internal=True).upstreams("n", "10.2.0.2") == []
    assert nameservers("nameserver 1.1.1.1\n#nameserver 2.2.2.2\noptions x\n") == ["1.1.1.1"]
