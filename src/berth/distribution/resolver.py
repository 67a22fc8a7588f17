"""Where an image name is pulled from and pushed to: registry endpoints with mirrors and transport rules.

Rules (INTERFACE.md "Names of images", berthd ``--default-registry/--registry-mirror/--insecure-registry``):

* ``docker.io`` (what ``busybox`` normalises to) means the daemon's default registry; there is no Hub;
* a registry host in the name is used as given;
* mirrors serve the default registry only, and are tried before it (pulls only; pushes never go to them);
* loopback (127.0.0.0/8, ::1, ``localhost``) and ``--insecure-registry`` hosts (``host[:port]`` or a CIDR)
  are spoken to over plain HTTP; everything else over HTTPS with certificate verification.

    >>> r = RegistryResolver(default_registry="localhost:5000", registry_mirrors=["http://127.0.0.1:5001"])
    >>> [e.base_url for e in r.pull_endpoints("docker.io")]
    ['http://127.0.0.1:5001', 'http://localhost:5000']
    >>> r.push_endpoint("registry.example:443").base_url
    'https://registry.example:443'
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from berth.errors import InvalidArgument
from berth.oci.reference import DEFAULT_DOMAIN

_DOCKER_HUB_ALIASES = frozenset({DEFAULT_DOMAIN, "index.docker.io", "registry-1.docker.io"})


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One registry to talk to: ``host`` (``host[:port]``, the key for credentials) and its base URL."""

    host: str
    base_url: str
    mirror: bool = False

    @property
    def secure(self) -> bool:
        """True when the endpoint is spoken to over HTTPS (with certificate verification)."""
        return self.base_url.startswith("https://")


def _hostname(host: str) -> str:
    """``host[:port]`` → host (brackets of IPv6 literals removed)."""
    if host.startswith("["):
        return host[1 : host.index("]")] if "]" in host else host
    if host.count(":") > 1:  # a bare IPv6 literal
        return host
    return host.rsplit(":", 1)[0]


def is_loopback(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 and ::1 (with or without a port)."""
    name = _hostname(host).lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class RegistryResolver:
    """Maps a registry domain (from ``berth.oci.reference``) to the endpoints to try, in order."""

    def __init__(
        self,
        *,
        default_registry: str,
        registry_mirrors: Sequence[str] = (),
        insecure_registries: Sequence[str] = (),
    ) -> None:
        if not default_registry:
            raise InvalidArgument("a default registry is required (berthd --default-registry)")
        self.default_registry = _strip_scheme(default_registry)
        self._insecure_hosts: set[str] = set()
        self._insecure_nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in insecure_registries:
            value = _strip_scheme(entry).lower()
            if "/" in value:
                try:
                    self._insecure_nets.append(ipaddress.ip_network(value, strict=False))
                    continue
                except ValueError as exc:
                    raise InvalidArgument(f"invalid --insecure-registry {entry!r}: {exc}") from exc
            self._insecure_hosts.add(value)
        self._mirrors = [self._mirror(url) for url in registry_mirrors]

    def _mirror(self, url: str) -> Endpoint:
        text = url.strip().rstrip("/")
        if "://" not in text:
            host = text
            return Endpoint(host, self._scheme(host) + "://" + host, mirror=True)
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidArgument(f"invalid --registry-mirror {url!r}: expected http(s)://HOST[:PORT]")
        if parts.path not in ("", "/"):
            raise InvalidArgument(f"invalid --registry-mirror {url!r}: a mirror URL has no path")
        return Endpoint(parts.netloc, f"{parts.scheme}://{parts.netloc}", mirror=True)

    def is_insecure(self, host: str) -> bool:
        """Whether ``host[:port]`` is spoken to over plain HTTP."""
        if is_loopback(host):
            return True
        lowered = host.lower()
        if lowered in self._insecure_hosts or _hostname(lowered) in self._insecure_hosts:
            return True
        try:
            address = ipaddress.ip_address(_hostname(lowered))
        except ValueError:
            return False
        return any(address in net for net in self._insecure_nets)

    def _scheme(self, host: str) -> str:
        return "http" if self.is_insecure(host) else "https"

    def registry_host(self, domain: str) -> str:
        """The registry a reference's domain means: ``docker.io`` → the default registry."""
        return self.default_registry if domain in _DOCKER_HUB_ALIASES else domain

    def endpoint(self, host: str) -> Endpoint:
        """The endpoint of one registry host (no mirrors)."""
        host = self.registry_host(_strip_scheme(host))
        return Endpoint(host, f"{self._scheme(host)}://{host}")

    def pull_endpoints(self, domain: str) -> list[Endpoint]:
        """Mirrors first (only for the default registry), then the registry itself."""
        host = self.registry_host(domain)
        own = self.endpoint(host)
        if host == self.default_registry:
            return [*(m for m in self._mirrors if m.host != host), own]
        return [own]

    def push_endpoint(self, domain: str) -> Endpoint:
        """Pushes go to the registry itself, never to a mirror."""
        return self.endpoint(domain)

    def insecure_cidrs(self) -> list[str]:
        """``/info``'s ``RegistryConfig.InsecureRegistryCIDRs``: loopback plus configured networks."""
        return ["127.0.0.0/8", "::1/128", *(str(n) for n in self._insecure_nets)]


def _strip_scheme(value: str) -> str:
    text = value.strip().rstrip("/")
    for prefix in ("http://", "https://"):
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text
