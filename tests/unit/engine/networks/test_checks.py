"""The pure parts of networking: legacy link variables, create-time checks, network create bodies."""

from __future__ import annotations

from typing import Any

import pytest

from berth.engine.networks import create_request, legacy_links, settings
from berth.errors import BerthError, Forbidden, InvalidArgument, NotFound


def test_link_variables_as_moby_sets_them() -> None:
    env = legacy_links.env_vars(
        "/web/db-main", "10.0.0.2", ["PATH=/bin", "HOME=/root", "PASS=x=y"],
        {"5432/tcp": {}, "53/udp": {}, "5433/tcp": {}},
    )  # fmt: skip
    assert env == [
        "DB_MAIN_PORT=tcp://10.0.0.2:5432",
        "DB_MAIN_PORT_5432_TCP=tcp://10.0.0.2:5432",
        "DB_MAIN_PORT_5432_TCP_ADDR=10.0.0.2",
        "DB_MAIN_PORT_5432_TCP_PORT=5432",
        "DB_MAIN_PORT_5432_TCP_PROTO=tcp",
        "DB_MAIN_PORT_5433_TCP=tcp://10.0.0.2:5433",
        "DB_MAIN_PORT_5433_TCP_ADDR=10.0.0.2",
        "DB_MAIN_PORT_5433_TCP_PORT=5433",
        "DB_MAIN_PORT_5433_TCP_PROTO=tcp",
        "DB_MAIN_PORT_53_UDP=udp://10.0.0.2:53",
        "DB_MAIN_PORT_53_UDP_ADDR=10.0.0.2",
        "DB_MAIN_PORT_53_UDP_PORT=53",
        "DB_MAIN_PORT_53_UDP_PROTO=udp",
        "DB_MAIN_PORT_5432_TCP_START=tcp://10.0.0.2:5432",
        "DB_MAIN_PORT_5432_TCP_PORT_START=5432",
        "DB_MAIN_PORT_5432_TCP_END=tcp://10.0.0.2:5433",
        "DB_MAIN_PORT_5432_TCP_PORT_END=5433",
        "DB_MAIN_NAME=/web/db-main",
        "DB_MAIN_ENV_PASS=x=y",
    ]  # fmt: skip  (a range's variables follow the port that ends it, as in moby)


@pytest.mark.parametrize(
    ("link", "parsed"),
    [("db", ("db", "db")), ("db:al", ("db", "al")), ("/db:/web/al", ("db", "al"))],
)
def test_parse_link(link: str, parsed: tuple[str, str]) -> None:
    assert settings.parse_link(link) == parsed


@pytest.mark.parametrize(
    ("link", "message"), [("", "empty string"), ("a:b:c", "bad format"), (":x", "bad format")]
)
def test_bad_links(link: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        settings.parse_link(link)


@pytest.mark.parametrize(
    ("config", "host", "message"),
    [
        ({"Hostname": "h"}, {"NetworkMode": "container:x"}, "hostname and the network mode"),
        ({}, {"NetworkMode": "container:"}, "invalid container format"),
        ({}, {"NetworkMode": "container:x", "Dns": ["1.1.1.1"]}, "dns and the network mode"),
        ({}, {"NetworkMode": "container:x", "ExtraHosts": ["a:1.2.3.4"]}, "custom host-to-IP mapping"),
        ({"MacAddress": "02:00:00:00:00:01"}, {"NetworkMode": "host"}, "mac-address and the network mode"),
        ({}, {"NetworkMode": "host", "Links": ["a"]}, "host type networking can't be used with links"),
        ({}, {"PortBindings": {"80/tcp": [{"HostPort": "99999"}]}}, 'invalid port specification: "99999"'),
        ({}, {"PortBindings": {"0/tcp": [{}]}}, 'invalid port specification: "0"'),
        ({}, {"PortBindings": {"80/tcp": [{"HostPort": "90-80"}]}}, 'invalid port specification: "90-80"'),
        ({}, {"PortBindings": {"80/tcp": [{"HostIp": "x"}]}}, "invalid host IP address: x"),
    ],
)
def test_container_refusals(config: dict[str, Any], host: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        settings.check_container(config, host, None)


def test_endpoint_config_is_normalised() -> None:
    endpoint = settings.endpoint_config("app", {
        "Aliases": ["a"], "MacAddress": "02:AA:00:00:00:01", "GwPriority": 3, "DNSNames": ["ignored"],
        "IPAMConfig": {"IPv4Address": "10.0.0.9", "LinkLocalIPs": ["169.254.1.2"]}, "Links": ["db:d"],
        "DriverOpts": {settings.IFNAME_OPT: "app0"},
    }, user_defined=True)  # fmt: skip
    assert endpoint == {
        "Aliases": ["a"], "IPAMConfig": {"IPv4Address": "10.0.0.9", "LinkLocalIPs": ["169.254.1.2"]},
        "Links": ["db:d"], "DesiredMacAddress": "02:aa:00:00:00:01", "DriverOpts": {settings.IFNAME_OPT: "app0"},
        "GwPriority": 3,
    }  # fmt: skip
    for bad, message in [
        ({"MacAddress": "zz"}, "invalid MAC address zz"),
        ({"MacAddress": "03:00:00:00:00:01"}, "multicast"),
        ({"IPAMConfig": {"IPv6Address": "10.0.0.9"}}, "invalid IPv6 address: 10.0.0.9"),
        ({"IPAMConfig": {"IPv6Address": "::ffff:10.0.0.9"}}, "invalid IPv6 address: ::ffff:10.0.0.9"),
        ({"IPAMConfig": {"IPv6Address": "::"}}, "invalid IPv6 address: ::"),
        ({"IPAMConfig": {"IPv6Address": "fe80::1%eth0"}}, "invalid IPv6 address: fe80::1%eth0"),
        ({"IPAMConfig": {"LinkLocalIPs": ["10.0.0.1"]}}, "link-local"),
        ({"DriverOpts": {"x": "y"}}, "driver option x is not supported"),
    ]:
        with pytest.raises(InvalidArgument, match=message):
            settings.endpoint_config("app", bad, user_defined=True)


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        ({"Driver": "foo"}, NotFound, "could not find plugin foo in v1 plugin registry"),
        ({"Driver": "overlay"}, Forbidden, "not a swarm manager"),
        ({"Driver": "host"}, Forbidden, 'only one instance of "host" network is allowed'),
        ({"Ingress": True}, Forbidden, "not a swarm manager"),
        ({"EnableIPv4": False}, InvalidArgument, "IPv4 or IPv6 must be enabled"),
        ({"EnableIPv4": False, "EnableIPv6": True}, InvalidArgument, "IPv6-only networks are not supported"),
        (
            {"Options": {"com.docker.network.enable_ipv4": "false", "com.docker.network.enable_ipv6": "1"}},
            InvalidArgument,
            "IPv6-only networks are not supported",
        ),
        ({"Options": {"com.docker.network.enable_ipv6": "yes"}}, InvalidArgument, "failed to parse"),
        (
            {"ConfigFrom": {"Network": "c"}, "EnableIPv6": True},
            Forbidden,
            "user specified configurations are not supported",
        ),
        ({"IPAM": {"Options": {"a": "b"}}}, InvalidArgument, "IPAM options"),
        ({"ConfigOnly": True, "Internal": True}, Forbidden, "configuration network can only contain"),
        (
            {"ConfigFrom": {"Network": "c"}, "Options": {"x": "y"}},
            Forbidden,
            "driver options are not supported",
        ),
    ],
)
def test_create_refusals(body: dict[str, Any], error: type[BerthError], message: str) -> None:
    with pytest.raises(error, match=message):
        create_request.check_fields(body)


def test_ipam_config() -> None:
    config, no_v6 = create_request.address_configs({"Config": [{
        "Subnet": "10.5.0.0/16", "IPRange": "10.5.1.0/24", "Gateway": "10.5.0.1", "AuxiliaryAddresses": {"r": "10.5.1.1"},
    }]})  # fmt: skip
    assert no_v6 is None
    assert (str(config.subnet), str(config.ip_range), str(config.gateway), config.aux) == (
        "10.5.0.0/16",
        "10.5.1.0/24",
        "10.5.0.1",
        {"r": "10.5.1.1"},
    )
    with pytest.raises(InvalidArgument, match="invalid subnet 10.5.0.1/16: it should be 10.5.0.0/16"):
        create_request.address_configs({"Config": [{"Subnet": "10.5.0.1/16"}]})
    with pytest.raises(InvalidArgument, match="CIDR block is bigger than its parent subnet"):
        create_request.address_configs({"Config": [{"Subnet": "10.5.0.0/24", "IPRange": "10.5.0.0/16"}]})
    with pytest.raises(InvalidArgument, match="failed to parse com.docker.network.driver.mtu value: 9x"):
        create_request.check_options({create_request.MTU: "9x"}, taken_devices={})
    with pytest.raises(Forbidden, match="networks have same bridge name"):
        create_request.check_options({create_request.BRIDGE_NAME: "br0"}, taken_devices={"br0": "abc"})


def test_options_outside_dockers_namespace_are_kept() -> None:
    assert create_request.check_options({"team.option": "x"}, taken_devices={}) == {"team.option": "x"}
    with pytest.raises(InvalidArgument, match="inhibit_ipv4 is not supported"):
        create_request.check_options({"com.docker.network.bridge.inhibit_ipv4": "true"}, taken_devices={})


def test_ipam_config_with_ipv6() -> None:
    # docker-py's IPv6 network test: one IPv6 entry; IPv4 is left to the daemon
    v4, v6 = create_request.address_configs(
        {"Config": [{"Subnet": "2001:389::/64", "IPRange": "2001:389::0/96", "Gateway": "2001:389::ffff"}]},
        enable_ipv6=True,
    )
    assert v4 == create_request.AddressConfig()
    assert v6 is not None
    assert (str(v6.subnet), str(v6.ip_range), str(v6.gateway), v6.aux) == (
        "2001:389::/64", "2001:389::/96", "2001:389::ffff", {},
    )  # fmt: skip
    v4, v6 = create_request.address_configs(
        {
            "Config": [
                {"Subnet": "fd00:1::/64", "AuxiliaryAddresses": {"r": "fd00:1::9"}},
                {"Subnet": "10.6.0.0/24"},
            ]
        },
        enable_ipv6=True,
    )
    assert str(v4.subnet) == "10.6.0.0/24" and v6 is not None and v6.aux == {"r": "fd00:1::9"}
    _, auto = create_request.address_configs({"Config": []}, enable_ipv6=True)
    assert auto == create_request.AddressConfig6()  # no subnet: the service picks a /64 of its ULA /48


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"Subnet": "fd00:1::5/64"}, "invalid subnet fd00:1::5/64: it should be fd00:1::/64"),
        ({"Subnet": "fd00:1::/64", "IPRange": "fd00:2::/80"},
         "invalid ip-range fd00:2::/80: parent subnet fd00:1::/64 doesn't contain ip-range"),
        ({"Subnet": "fd00:1::/64", "IPRange": "fd00:1::/48"}, "CIDR block is bigger than its parent subnet"),
        ({"Subnet": "fd00:1::/64", "IPRange": "10.0.0.0/24"}, "invalid ip-range 10.0.0.0/24: parent subnet is an IPv6 block"),
        ({"Subnet": "fd00:1::/64", "Gateway": "10.0.0.1"}, "invalid gateway 10.0.0.1: parent subnet is an IPv6 block"),
        ({"Subnet": "10.7.0.0/24", "Gateway": "fd00:1::1"}, "invalid gateway fd00:1::1: parent subnet is an IPv4 block"),
        ({"Subnet": "fd00:1::/64", "Gateway": "fd00:2::1"},
         "invalid gateway fd00:2::1: it should belong to the parent subnet fd00:1::/64"),
        ({"Subnet": "fd00:1::/64", "AuxiliaryAddresses": {"a": "fd00::x"}}, "invalid auxiliary address a: invalid address"),
    ],
)  # fmt: skip
def test_ipv6_ipam_refusals(config: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        create_request.address_configs({"Config": [config]}, enable_ipv6=True)


def test_ipv6_subnets_need_ipv6_and_one_subnet_per_family() -> None:
    with pytest.raises(InvalidArgument, match="IPv6 subnet fd00:1::/64 on a network without IPv6"):
        create_request.address_configs({"Config": [{"Subnet": "fd00:1::/64"}]})
    for configs in (
        [{"Subnet": "fd00:1::/64"}, {"Subnet": "fd00:2::/64"}],
        [{"Subnet": "10.8.0.0/24"}, {"Subnet": "10.9.0.0/24"}],
    ):
        with pytest.raises(Forbidden, match="bridge driver doesn't support multiple subnets"):
            create_request.address_configs({"Config": configs}, enable_ipv6=True)
    assert create_request.ipv6_enabled({"EnableIPv6": True})
    assert create_request.ipv6_enabled({"Options": {create_request.ENABLE_IPV6: "true"}})
    assert not create_request.ipv6_enabled(
        {"EnableIPv6": False, "Options": {create_request.ENABLE_IPV6: "true"}}
    )


def test_endpoint_ipv6_address_is_kept_compressed() -> None:
    endpoint = settings.endpoint_config(
        "app", {"IPAMConfig": {"IPv6Address": "2001:0389:0000::f00d"}}, user_defined=True
    )
    assert endpoint["IPAMConfig"] == {"IPv6Address": "2001:389::f00d"}
    with pytest.raises(InvalidArgument, match="user defined networks only"):
        settings.endpoint_config("bridge", {"IPAMConfig": {"IPv6Address": "fd00::2"}}, user_defined=False)
