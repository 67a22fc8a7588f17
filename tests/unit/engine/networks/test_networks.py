"""NetworkService's checks at create that need no kernel: modes, endpoints, aliases, IPv6 networks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from berth.engine.containers.container import Container
from berth.engine.networks.service import NetworkService
from berth.errors import Forbidden, InvalidArgument, NotFound
from berth.network import ipam


def service(tmp_path: Path) -> NetworkService:
    def no_container(ref: str) -> Container:
        raise NotFound(f"No such container: {ref}")

    return NetworkService(
        tmp_path / "networks", netns_root=tmp_path / "netns", daemon_id="d", since="2026-01-01T00:00:00.000000000Z", bridge="bt0",
        bip="10.9.8.1/24", containers=list, container=no_container,
    )  # fmt: skip


def test_the_default_mode_is_the_bridge_with_one_endpoint(tmp_path: Path) -> None:
    host: dict[str, object] = {"NetworkMode": "default"}
    assert service(tmp_path).endpoints_for(host, None) == {
        "bridge": {"Aliases": None, "IPAMConfig": None, "Links": None, "DesiredMacAddress": "", "DriverOpts": None,
                   "GwPriority": 0}
    }  # fmt: skip
    assert service(tmp_path).endpoints_for({"NetworkMode": "none"}, None) == {}


def test_unknown_networks_and_containers_are_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="network nonet not found"):
        service(tmp_path).endpoints_for({"NetworkMode": "nonet"}, None)
    with pytest.raises(NotFound, match="No such container: ghost"):
        service(tmp_path).endpoints_for({"NetworkMode": "container:ghost"}, None)


@pytest.mark.parametrize(
    "endpoint",
    [
        {"Aliases": ["www\n10.6.6.6 bank"]},  # would add a line to every peer's /etc/hosts
        {"Aliases": ["two words"]},
    ],
)
def test_aliases_are_single_words(tmp_path: Path, endpoint: dict[str, object]) -> None:
    networks = service(tmp_path)
    networks.create({"Name": "app", "IPAM": {"Config": [{"Subnet": "10.77.0.0/24"}]}})
    with pytest.raises(InvalidArgument, match="invalid network alias"):
        networks.endpoints_for({"NetworkMode": "app"}, {"EndpointsConfig": {"app": endpoint}})


def test_the_default_bridge_takes_neither_aliases_nor_addresses(tmp_path: Path) -> None:
    networks = service(tmp_path)
    with pytest.raises(InvalidArgument, match="user defined networks only"):
        networks.endpoints_for(
            {}, {"EndpointsConfig": {"bridge": {"IPAMConfig": {"IPv4Address": "10.9.8.9"}}}}
        )
    with pytest.raises(InvalidArgument, match="alias is supported only"):
        networks.endpoints_for({}, {"EndpointsConfig": {"bridge": {"Aliases": ["x"]}}})


def test_ipv6_networks_are_kept_and_read_back(tmp_path: Path) -> None:
    networks = service(tmp_path)
    given = networks.create({"Name": "v6", "EnableIPv6": True, "IPAM": {"Config": [
        {"Subnet": "2001:389::/64", "IPRange": "2001:389::0/96", "Gateway": "2001:389::ffff"},
    ]}})  # fmt: skip
    assert given.enable_ipv6 and given.configured_subnet6 and not given.configured_subnet
    assert (str(given.subnet6), str(given.ip_range6), str(given.gateway6)) == (
        "2001:389::/64", "2001:389::/96", "2001:389::ffff",
    )  # fmt: skip
    assert given.subnet is not None  # IPv4 too: dual-stack
    auto = networks.create({"Name": "auto6", "EnableIPv6": True})
    ula = ipam.ula_prefix("d")
    assert auto.subnet6 is not None and auto.subnet6.subnet_of(ula) and auto.subnet6.prefixlen == 64
    assert auto.gateway6 == auto.subnet6.network_address + 1 and not auto.configured_subnet6
    second = networks.create({"Name": "auto6b", "Options": {"com.docker.network.enable_ipv6": "true"}})
    assert second.subnet6 is not None and second.subnet6 != auto.subnet6 and second.subnet6.subnet_of(ula)
    assert networks.create({"Name": "v4"}).enable_ipv6 is False
    again = service(tmp_path)  # a daemon restart reads the records back
    for name in ("v6", "auto6", "auto6b", "v4"):
        assert again.get(name) == networks.get(name)
    assert again.get("bridge").enable_ipv6 is False  # the default bridge stays IPv4-only


def test_records_written_before_ipv6_are_ipv4_networks(tmp_path: Path) -> None:
    networks = service(tmp_path)
    network = networks.create({"Name": "old", "IPAM": {"Config": [{"Subnet": "10.78.0.0/24"}]}})
    path = tmp_path / "networks" / f"{network.network_id}.json"
    record = json.loads(path.read_text())
    for key in ("EnableIPv6", "Subnet6", "Gateway6", "IPRange6", "AuxiliaryAddresses6", "ConfiguredSubnet6"):
        del record[key]
    path.write_text(json.dumps(record))
    old = service(tmp_path).get("old")
    assert old == network and not old.enable_ipv6 and old.subnet6 is None


def test_overlapping_ipv6_subnets_are_refused(tmp_path: Path) -> None:
    networks = service(tmp_path)
    networks.create({"Name": "a", "EnableIPv6": True, "IPAM": {"Config": [{"Subnet": "fd00:77::/64"}]}})
    with pytest.raises(Forbidden, match="Pool overlaps with other one on this address space"):
        networks.create({"Name": "b", "EnableIPv6": True, "IPAM": {"Config": [{"Subnet": "fd00:77::/56"}]}})
    with pytest.raises(InvalidArgument, match="on a network without IPv6"):
        networks.create({"Name": "c", "IPAM": {"Config": [{"Subnet": "fd00:78::/64"}]}})
    assert {n.name for n in networks.all()} == {"a", "bridge", "host", "none"}


def test_static_ipv6_addresses_need_a_configured_ipv6_subnet(tmp_path: Path) -> None:
    networks = service(tmp_path)
    networks.create({"Name": "v6", "EnableIPv6": True, "IPAM": {"Config": [{"Subnet": "fd00:79::/64"}]}})
    networks.create({"Name": "auto6", "EnableIPv6": True})
    networks.create({"Name": "v4", "IPAM": {"Config": [{"Subnet": "10.79.0.0/24"}]}})

    def endpoints(network: str, address: str) -> dict[str, dict[str, object]]:
        config = {"EndpointsConfig": {network: {"IPAMConfig": {"IPv6Address": address}}}}
        return networks.endpoints_for({"NetworkMode": network}, config)

    assert endpoints("v6", "fd00:79::f00d")["v6"]["IPAMConfig"] == {"IPv6Address": "fd00:79::f00d"}
    with pytest.raises(
        InvalidArgument, match="no configured subnet or ip-range contain the IP address fd00:80::1"
    ):
        endpoints("v6", "fd00:80::1")
    for network in ("auto6", "v4"):  # a subnet the daemon chose, or no IPv6 at all: Docker's refusal
        with pytest.raises(
            InvalidArgument, match="only when connecting to networks with user configured subnets"
        ):
            endpoints(network, "fd00:79::2")


def test_a_network_takes_ipv6_from_its_configuration_network(tmp_path: Path) -> None:
    networks = service(tmp_path)
    networks.create({"Name": "base6", "ConfigOnly": True, "EnableIPv6": True, "IPAM": {"Config": [
        {"Subnet": "fd00:81::/64", "IPRange": "fd00:81::/80", "Gateway": "fd00:81::fffe"},
    ]}})  # fmt: skip
    derived = networks.create({"Name": "derived6", "ConfigFrom": {"Network": "base6"}})
    assert derived.enable_ipv6 and derived.configured_subnet6
    assert (str(derived.subnet6), str(derived.ip_range6), str(derived.gateway6)) == (
        "fd00:81::/64", "fd00:81::/80", "fd00:81::fffe",
    )  # fmt: skip
    plain = networks.create({"Name": "base4", "ConfigOnly": True})
    assert not networks.create({"Name": "derived4", "ConfigFrom": {"Network": plain.name}}).enable_ipv6
