"""A client that hangs up mid-stream is one debug line in berthd's log, never an ERROR traceback."""

from __future__ import annotations

import socket
import time

import docker
import pytest

from tests.e2e.conftest import Daemon

pytestmark = pytest.mark.root


def _hang_up(berthd: Daemon, method: str, path: str, *, read: int = 1, body: bytes = b"") -> None:
    """Send a request, read the start of its answer, then close the connection (RST: unread data)."""
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(berthd.socket))
        head = f"{method} {path} HTTP/1.1\r\nHost: berth\r\nContent-Length: {len(body)}\r\n"
        if "attach" in path:
            head += "Connection: Upgrade\r\nUpgrade: tcp\r\n"
        s.sendall(head.encode() + b"\r\n" + body)
        s.settimeout(10)
        got = b""
        while len(got) < read:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk


def test_client_hang_ups_are_not_errors(berthd: Daemon, busybox_image: str) -> None:
    api = docker.APIClient(base_url=berthd.host, timeout=30)
    chatty = api.create_container(busybox_image, ["sh", "-c", "while :; do echo tick; sleep 0.01; done"])[
        "Id"
    ]
    api.start(chatty)
    idle = api.create_container(busybox_image, ["sleep", "300"])["Id"]
    api.start(idle)
    time.sleep(0.5)
    _hang_up(berthd, "GET", f"/v1.50/containers/{chatty}/logs?follow=1&stdout=1", read=200)
    _hang_up(berthd, "GET", "/v1.50/events", read=100)
    _hang_up(berthd, "GET", f"/v1.50/containers/{chatty}/stats", read=100)
    _hang_up(berthd, "POST", f"/v1.50/containers/{idle}/wait", read=10)
    _hang_up(berthd, "POST", f"/v1.50/containers/{chatty}/attach?stream=1&stdout=1", read=200)
    _hang_up(berthd, "GET", f"/v1.50/containers/{chatty}/archive?path=/bin", read=1000)
    _hang_up(berthd, "GET", f"/v1.50/containers/{chatty}/export", read=1000)
    api.kill(idle)  # ends the abandoned wait, whose answer then finds no client
    time.sleep(3)  # the streams notice the closed connections at their next write
    log = berthd.log_text()
    assert "Traceback" not in log
    assert " ERROR " not in log
    assert "Error handling request" not in log
    assert "client disconnected" in log  # one debug line each
    for container in (chatty, idle):
        api.remove_container(container, force=True)
