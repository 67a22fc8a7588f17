"""The host sysctls Berth may change: IP forwarding, and per-interface settings of its own bridges.

Nothing else: a bridge's name is checked to be one of Berth's by the caller (it made the bridge).
"""

from __future__ import annotations

from pathlib import Path

PROC = Path("/proc/sys/net")
IPV4_FORWARD = PROC / "ipv4/ip_forward"
IPV6_FORWARD = PROC / "ipv6/conf/all/forwarding"


def read_flag(path: Path) -> bool:
    try:
        return path.read_text().strip() == "1"
    except OSError:
        return False


def write_flag(path: Path, on: bool) -> None:
    path.write_text("1\n" if on else "0\n")


def enable_forwarding(path: Path = IPV4_FORWARD) -> bool:
    """Turn forwarding on (IPv4's, or IPv6's with ``IPV6_FORWARD``); whether it was off before."""
    was_off = path.exists() and not read_flag(path)
    if was_off:
        write_flag(path, True)
    return was_off


def bridge_localnet(device: str) -> None:
    """``route_localnet`` on a Berth bridge: packets to 127.0.0.1:PORT, DNATed to a container, may
    leave through it (as Docker sets on docker0 with its userland proxy off)."""
    path = PROC / "ipv4/conf" / device / "route_localnet"
    if path.exists() and not read_flag(path):
        write_flag(path, True)
