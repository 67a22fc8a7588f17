"""Name → endpoints: default registry, mirrors first, HTTP only for loopback and insecure registries."""

from __future__ import annotations

import pytest

from berth.distribution.resolver import RegistryResolver, is_loopback
from berth.errors import InvalidArgument
from berth.oci import reference


def test_docker_io_means_the_default_registry() -> None:
    resolver = RegistryResolver(default_registry="registry.internal:5000")
    ref = reference.parse("busybox")
    assert [e.base_url for e in resolver.pull_endpoints(ref.domain)] == ["https://registry.internal:5000"]
    assert resolver.push_endpoint("docker.io").host == "registry.internal:5000"
    assert resolver.registry_host("index.docker.io") == "registry.internal:5000"


def test_a_registry_in_the_name_is_used_as_given() -> None:
    resolver = RegistryResolver(
        default_registry="localhost:5000", registry_mirrors=["https://mirror.example"]
    )
    ref = reference.parse("quay.example:8443/team/app:v1")
    endpoints = resolver.pull_endpoints(ref.domain)
    assert [e.base_url for e in endpoints] == ["https://quay.example:8443"]
    assert endpoints[0].secure


def test_mirrors_come_first_for_the_default_registry_only() -> None:
    resolver = RegistryResolver(
        default_registry="localhost:5000",
        registry_mirrors=["https://mirror.example/", "http://10.0.0.5:5000", "127.0.0.1:6000"],
    )
    endpoints = resolver.pull_endpoints("docker.io")
    assert [e.base_url for e in endpoints] == [
        "https://mirror.example",
        "http://10.0.0.5:5000",
        "http://127.0.0.1:6000",
        "http://localhost:5000",
    ]
    assert [e.mirror for e in endpoints] == [True, True, True, False]
    assert not resolver.push_endpoint("docker.io").mirror


@pytest.mark.parametrize(
    ("host", "insecure"),
    [
        ("localhost:5000", True),
        ("127.0.0.1:5000", True),
        ("127.8.9.10", True),
        ("[::1]:5000", True),
        ("registry.example", False),
        ("10.1.2.3:5000", True),  # CIDR below
        ("10.2.0.1:5000", False),
        ("plain.example:5000", True),  # host:port below
        ("plain.example:6000", False),
        ("bare.example:7000", True),  # a host without port covers every port
    ],
)
def test_insecure_registries(host: str, insecure: bool) -> None:
    resolver = RegistryResolver(
        default_registry="localhost:5000",
        insecure_registries=["10.1.0.0/16", "plain.example:5000", "http://bare.example"],
    )
    assert resolver.is_insecure(host) is insecure
    assert resolver.endpoint(host).base_url.startswith("http://" if insecure else "https://")


def test_loopback_detection() -> None:
    assert is_loopback("localhost") and is_loopback("127.0.0.1:1") and is_loopback("::1")
    assert not is_loopback("localhost.example") and not is_loopback("128.0.0.1")


def test_bad_configuration_is_rejected() -> None:
    with pytest.raises(InvalidArgument):
        RegistryResolver(default_registry="")
    with pytest.raises(InvalidArgument):
        RegistryResolver(default_registry="x", registry_mirrors=["ftp://mirror"])
    with pytest.raises(InvalidArgument):
        RegistryResolver(default_registry="x", insecure_registries=["10.0.0.0/99"])
