"""Host ports held by bound sockets (real sockets on this host's addresses)."""

from __future__ import annotations

import socket

import pytest

from berth.errors import Conflict
from berth.network.reservation import Reservations


def test_a_held_port_conflicts_and_the_kernel_picks_ephemeral_ones() -> None:
    held = Reservations()
    try:
        port = held.hold("0.0.0.0", 0, "tcp")
        with pytest.raises(Conflict, match=f"Bind for 0.0.0.0:{port} failed: port is already allocated"):
            Reservations().hold("0.0.0.0", port, "tcp")
        with pytest.raises(Conflict, match="already allocated"):
            Reservations().hold("127.0.0.1", port, "tcp")  # 0.0.0.0 holds every address
        assert held.hold("::", port, "tcp") == port  # the other family: its own
    finally:
        held.close()


def test_udp_and_ephemeral_ports_and_close() -> None:
    held = Reservations()
    chosen = held.hold("127.0.0.1", 0, "udp")
    assert chosen > 0 and len(held) == 1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other, pytest.raises(OSError):
        other.bind(("127.0.0.1", chosen))
    held.close()
    assert len(held) == 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
        other.bind(("127.0.0.1", chosen))  # free again
