"""Links through netlink (pyroute2): the bridge a network is, and the veth pair that plugs a container in.

Blocking calls: run them on a worker thread (pyroute2's synchronous API runs an event loop of its own).
Only links Berth names are ever changed on the host: its bridges and the host ends of its veth pairs;
the one sysctl written on the host is a Berth bridge's own ``disable_ipv6`` (an IPv6 network's).
IPv6 addresses are added with ``IFA_F_NODAD``: usable at once, not after a second of duplicate
address detection (the addresses are Berth's to hand out, so no one else on the bridge has them).
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import logging
import os
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from berth.network import netns

if TYPE_CHECKING:
    from pyroute2 import IPRoute

_EEXIST = 17
_ENODEV = 19
_LOOPBACK_INDEX = 1  # the kernel numbers every namespace's loopback 1
_IFA_F_NODAD = 0x02  # linux/if_addr.h
_IPV6_CONF = Path("/proc/sys/net/ipv6/conf")


class StaleBridge(OSError):
    """The bridge a cached index named was deleted (by hand, or by another daemon's clean-up)."""


def _iproute() -> IPRoute:
    from pyroute2 import IPRoute  # ~100 ms to import: only once the first network is used

    # pyroute2 sets its logger to log everything at import; at debug that is every netlink message.
    logging.getLogger("pyroute2").setLevel(logging.WARNING)
    return IPRoute()


def _index(ipr: IPRoute, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return int(found[0]) if found else None


def _enable_ipv6(ifname: str) -> None:
    """IPv6 on for ``ifname`` (``disable_ipv6`` 0) in the calling thread's network namespace: the
    kernel resolves /proc/sys/net for the thread that opens it, so from a thread inside a container's
    namespace this is the container's interface, not a host link of the same name. Nothing when the
    kernel has no IPv6 (no such file)."""
    path = _IPV6_CONF / ifname / "disable_ipv6"
    with contextlib.suppress(FileNotFoundError):
        if path.read_text().strip() != "0":
            path.write_text("0")


def ensure_bridge(
    name: str, gateway: ipaddress.IPv4Interface, mtu: int = 0, gateway6: ipaddress.IPv6Interface | None = None
) -> int:
    """The bridge ``name``, up, with ``gateway`` (e.g. 172.30.0.1/16) as its address (and ``mtu`` when
    given; and ``gateway6``, e.g. fd00:1::1/64, with IPv6 enabled on it); its link index."""
    from pyroute2 import NetlinkError

    with _iproute() as ipr:
        index = _index(ipr, name)
        if index is None:
            with contextlib.suppress(NetlinkError):  # made meanwhile by another start: fine
                # A MAC of its own: otherwise a bridge takes its lowest port's, and changes it when that
                # container goes — every other container's ARP entry for the gateway is then stale.
                ipr.link("add", ifname=name, kind="bridge", address=bridge_mac(name))
            index = _index(ipr, name)
            if index is None:
                raise OSError(f"cannot create bridge {name}")
        try:
            ipr.addr("add", index=index, address=str(gateway.ip), prefixlen=gateway.network.prefixlen)
        except NetlinkError as exc:
            if exc.code != _EEXIST:
                raise
        if gateway6 is not None:
            _enable_ipv6(name)  # before the address: a link with IPv6 disabled refuses one
            try:
                ipr.addr(
                    "add", index=index, address=str(gateway6.ip), prefixlen=gateway6.network.prefixlen,
                    family=socket.AF_INET6, flags=_IFA_F_NODAD,
                )  # fmt: skip
            except NetlinkError as exc:
                if exc.code != _EEXIST:
                    raise
        if mtu:
            ipr.link("set", index=index, mtu=mtu)
        ipr.link("set", index=index, state="up")
        return index


def bridge_mac(name: str) -> str:
    """A stable, locally administered unicast MAC for the bridge ``name``."""
    digest = hashlib.sha256(name.encode()).digest()
    return ":".join(f"{b:02x}" for b in (0x02, *digest[:5]))


def delete_link(name: str) -> None:
    """Remove a link Berth made (a bridge, or a veth's host end, which takes its peer along)."""
    from pyroute2 import NetlinkError

    with _iproute() as ipr:
        index = _index(ipr, name)
        if index is None:
            return
        try:
            ipr.link("del", index=index)
        except NetlinkError as exc:
            if exc.code != _ENODEV:
                raise


def _route_destinations(family: int, exclude: Iterable[str]) -> list[str]:
    skip = set(exclude)
    with _iproute() as ipr:
        names = {int(link["index"]): link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
        out = []
        for route in ipr.get_routes(family=family, table=254):
            destination = route.get_attr("RTA_DST")
            if destination is None or names.get(route.get_attr("RTA_OIF")) in skip:
                continue
            out.append(f"{destination}/{route['dst_len']}")
        return out


def host_routes(exclude: Iterable[str] = ()) -> list[ipaddress.IPv4Network]:
    """The IPv4 destinations the host routes (main table, default route aside), except through the
    links named in ``exclude``: a subnet that overlaps one would cut the host off from it."""
    return [ipaddress.IPv4Network(d, strict=False) for d in _route_destinations(socket.AF_INET, exclude)]


def host_routes6(exclude: Iterable[str] = ()) -> list[ipaddress.IPv6Network]:
    """``host_routes`` for IPv6 (fe80::/64 among them: the link-local prefix is routed on every link)."""
    return [ipaddress.IPv6Network(d, strict=False) for d in _route_destinations(socket.AF_INET6, exclude)]


def link_exists(name: str) -> bool:
    with _iproute() as ipr:
        return _index(ipr, name) is not None


def plug(
    namespace: Path,
    *,
    bridge_index: int,
    host_name: str,
    inner_name: str,
    address: ipaddress.IPv4Interface,
    mac: str,
    gateway: ipaddress.IPv4Address | None,
    mtu: int = 0,
    isolated: bool = False,
    link_local: Iterable[ipaddress.IPv4Address] = (),
    address6: ipaddress.IPv6Interface | None = None,
    gateway6: ipaddress.IPv6Address | None = None,
) -> None:
    """A veth pair: ``host_name`` on the bridge, ``inner_name`` in ``namespace`` with ``address`` (and the
    default route through ``gateway`` when given: the container's gateway network). ``mtu``: both ends'
    (0: the kernel's default); ``isolated``: the bridge port may not talk to other isolated ports (a
    network without inter-container traffic); ``link_local``: extra 169.254/16 addresses;
    ``address6``/``gateway6``: the same for IPv6 (an IPv6 network), IPv6 enabled on ``inner_name``.
    Raises ``StaleBridge`` when no link has ``bridge_index`` any more."""
    from pyroute2 import NetlinkError

    fd = os.open(namespace, os.O_RDONLY | os.O_CLOEXEC)
    try:
        with _iproute() as ipr:  # one request: both ends made, the host's enslaved and up, the MAC set
            peer: dict[str, object] = {"ifname": inner_name, "net_ns_fd": fd, "address": mac}
            extra: dict[str, object] = {}
            if mtu:
                peer["mtu"] = extra["mtu"] = mtu
            try:
                ipr.link(
                    "add", ifname=host_name, kind="veth", master=bridge_index, state="up", peer=peer, **extra
                )
            except NetlinkError:
                if not ipr.link_lookup(index=bridge_index):
                    raise StaleBridge(f"bridge index {bridge_index} is gone") from None
                raise
            if isolated:
                host_index = _index(ipr, host_name)
                if host_index is not None:
                    ipr.brport("set", index=host_index, isolated=1)
    finally:
        os.close(fd)
    _hairpin(host_name)

    def configure() -> None:
        with _iproute() as ipr:  # opened on this thread: inside the container's namespace
            index = _index(ipr, inner_name)
            if index is None:
                raise OSError(f"{inner_name} did not arrive in {namespace}")
            ipr.addr("add", index=index, address=str(address.ip), prefixlen=address.network.prefixlen)
            for extra_address in link_local:
                ipr.addr("add", index=index, address=str(extra_address), prefixlen=16)
            if address6 is not None:
                _enable_ipv6(inner_name)  # this thread's /proc/sys/net is the namespace's (see there)
                ipr.addr(
                    "add", index=index, address=str(address6.ip), prefixlen=address6.network.prefixlen,
                    family=socket.AF_INET6, flags=_IFA_F_NODAD,
                )  # fmt: skip
            ipr.link("set", index=index, state="up")
            ipr.link("set", index=_LOOPBACK_INDEX, state="up")
            if gateway is not None:
                ipr.route("add", dst="default", gateway=str(gateway))
            if gateway6 is not None:
                ipr.route("add", dst="::/0", gateway=str(gateway6), family=socket.AF_INET6)

    netns.inside(namespace, configure)


def _hairpin(host_name: str) -> None:
    """Hairpin mode on the container's bridge port: a container reaching its own published port through
    a host address comes back through the port it left by (DNAT under br_netfilter bridges the reply
    there), as Docker sets with its userland proxy off."""
    with contextlib.suppress(OSError):
        Path(f"/sys/class/net/{host_name}/brport/hairpin_mode").write_text("1\n")


def veth_names(namespace: Path) -> list[str]:
    """The names of the veth ends in ``namespace`` (a container's: the kernel's own tunnel devices left out)."""
    found: list[str] = []

    def collect() -> None:
        with _iproute() as ipr:
            for link in ipr.get_links():
                if link.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND") == "veth":
                    found.append(str(link.get_attr("IFLA_IFNAME")))

    netns.inside(namespace, collect)
    return found


def unplug(namespace: Path, inner_name: str) -> None:
    """Remove the container's end of a veth pair (its host end goes with it)."""
    from pyroute2 import NetlinkError

    def remove() -> None:
        with _iproute() as ipr:
            index = _index(ipr, inner_name)
            if index is not None:
                with contextlib.suppress(NetlinkError):
                    ipr.link("del", index=index)

    netns.inside(namespace, remove)


def set_default_route(
    namespace: Path, gateway: ipaddress.IPv4Address | None, gateway6: ipaddress.IPv6Address | None = None
) -> None:
    """The namespace's default routes: through ``gateway`` and ``gateway6`` (replacing the ones it
    has), or none (for the family whose gateway is None)."""
    from pyroute2 import NetlinkError

    def route() -> None:
        with _iproute() as ipr:
            if gateway is None:
                with contextlib.suppress(NetlinkError):
                    ipr.route("del", dst="default")
            else:
                ipr.route("replace", dst="default", gateway=str(gateway))
            if gateway6 is None:
                with contextlib.suppress(NetlinkError):
                    ipr.route("del", dst="::/0", family=socket.AF_INET6)
            else:
                ipr.route("replace", dst="::/0", gateway=str(gateway6), family=socket.AF_INET6)

    netns.inside(namespace, route)
