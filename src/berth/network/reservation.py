"""Host ports held for published ports that the kernel carries (DNAT in Berth's nftables table).

The kernel rule needs no socket, but the port must still be Berth's: a bound socket (never listening,
never read — DNAT turns the packets away before they could reach it) makes another program's bind of
that port fail as it would against docker-proxy, makes two containers' bindings conflict with
Docker's "port is already allocated", and lets the kernel choose an ephemeral port. A socket is a
descriptor and a few hundred bytes of kernel memory: no process, no thread, no buffer per port, and
here no Python object either — a container's reservations are an array of descriptors, so a range of
10,000 ports costs berthd 40 KB. The sockets close with berthd; the rules do not, so ports keep
answering while it is down, and the next berthd binds them again.

As against docker-proxy, a port in the host's ephemeral range (``net.ipv4.ip_local_port_range``)
that one of the host's own outgoing connections used a moment ago is refused until its TIME_WAIT
ends (a minute): the kernel lets no bind through it, SO_REUSEADDR or not.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from array import array

from berth.errors import Conflict


class Reservations:
    """The bound sockets of one container's kernel-carried ports, as bare descriptors."""

    __slots__ = ("_fds",)

    def __init__(self) -> None:
        self._fds = array("i")

    def __len__(self) -> int:
        return len(self._fds)

    def hold(self, host_ip: str, host_port: int, proto: str) -> int:
        """Bind ``host_ip:host_port/proto`` (``host_port`` 0: the kernel picks one); the port bound.
        Conflict (Docker's words) when another socket has it."""
        family = socket.AF_INET6 if ipaddress.ip_address(host_ip).version == 6 else socket.AF_INET
        kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
        sock = socket.socket(family, kind)
        try:
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # [::] is not 0.0.0.0 too
            sock.bind((host_ip, host_port))
            bound = host_port or int(sock.getsockname()[1])
        except OSError as exc:
            sock.close()
            shown = f"[{host_ip}]" if family == socket.AF_INET6 else host_ip
            if exc.errno == errno.EADDRINUSE:
                raise Conflict(f"Bind for {shown}:{host_port} failed: port is already allocated") from None
            raise Conflict(f"cannot bind {shown}:{host_port}/{proto}: {exc.strerror}") from None
        self._fds.append(sock.detach())
        return bound

    def close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        del self._fds[:]
