"""NetworkService's checks at create that need no kernel: modes, endpoints, aliases."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.engine.containers.container import Container
from berth.engine.networks.service import NetworkService
from berth.errors import InvalidArgument, NotFound


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
