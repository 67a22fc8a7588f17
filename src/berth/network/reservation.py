"""Host ports held for published ports that the kernel carries (DNAT in Berth's nftables table).

The kernel rule needs no socket, but the port must still be Berth's: a bound socket (never listening,
never read — DNAT turns the packets away before they could reach it) makes another program's bind of
that port fail as it would against docker-proxy, makes two containers' bindings conflict with
Docker's "port is already allocated", and lets the kernel choose an ephemeral port. A socket is a
descriptor and a few hundred bytes of kernel memory: no process, no thread, no buffer per port.
The sockets close with berthd; the rules do not, so ports keep answering while it is down, and the
next berthd binds them again.
"""

from __future__ import annotations

import errno
import ipaddress
import socket

from berth.errors import Conflict


class Reservation:
    """One bound socket for ``host_ip:host_port/proto`` (``host_port`` 0: the kernel picks one)."""

    __slots__ = ("host_ip", "host_port", "proto", "_sock")

    def __init__(self, host_ip: str, host_port: int, proto: str) -> None:
        family = socket.AF_INET6 if ipaddress.ip_address(host_ip).version == 6 else socket.AF_INET
        kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
        sock = socket.socket(family, kind)
        try:
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # [::] is not 0.0.0.0 too
            sock.bind((host_ip, host_port))
        except OSError as exc:
            sock.close()
            shown = f"[{host_ip}]" if family == socket.AF_INET6 else host_ip
            if exc.errno == errno.EADDRINUSE:
                raise Conflict(f"Bind for {shown}:{host_port} failed: port is already allocated") from None
            raise Conflict(f"cannot bind {shown}:{host_port}/{proto}: {exc.strerror}") from None
        self.host_ip, self.proto = host_ip, proto
        self.host_port = int(sock.getsockname()[1])
        self._sock = sock

    def close(self) -> None:
        self._sock.close()
