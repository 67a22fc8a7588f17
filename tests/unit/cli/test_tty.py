"""``run -it`` under a real pseudo-terminal: raw mode, stdin forwarding, and the resize call."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import socket
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator

from tests.unit.cli.conftest import SRC
from tests.unit.client.stubdaemon import Reply, Request, StubDaemon, json_reply

CID = "d" * 64


def test_run_it_uses_raw_tty_and_resizes(stub: StubDaemon, tmp_path: object) -> None:
    stub.route("POST", "/containers/create", lambda r: json_reply({"Id": CID, "Warnings": []}, 201))

    def attach(sock: socket.socket) -> None:
        sock.settimeout(10)
        data = b""
        while b"q" not in data:
            chunk = sock.recv(100)
            if not chunk:
                break
            data += chunk
        sock.sendall(b"got:" + data + b"\r\n")
        sock.close()

    def wait(r: Request) -> Reply:
        def body() -> Iterator[bytes]:
            yield b" "
            while (
                not any("/attach" in x.path for x in stub.requests) or len(stub.find("POST", "/resize")) < 1
            ):
                time.sleep(0.05)
            time.sleep(0.3)
            yield json.dumps({"StatusCode": 0, "Error": None}).encode()

        return Reply(200, body(), chunked=True)

    stub.route("POST", "/containers/[^/]+/attach", lambda r: Reply(200, hijack=attach))
    stub.route("POST", "/containers/[^/]+/wait", wait)
    stub.route("POST", "/containers/[^/]+/start", lambda r: Reply(204))
    stub.route("POST", "/containers/[^/]+/resize", lambda r: Reply(200))
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    env = dict(os.environ, PYTHONPATH=SRC, BERTH_HOST=stub.host, BERTH_CONFIG=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "berth.cli.main", "run", "-it", "busybox", "sh"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    try:
        deadline = time.monotonic() + 15
        while not stub.find("POST", "/start") and time.monotonic() < deadline:
            time.sleep(0.05)
        os.write(master, b"abc q")
        output = b""
        while b"got:" not in output and time.monotonic() < deadline:
            try:
                output += os.read(master, 1024)
            except OSError:
                break
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert b"got:abc q" in output  # raw mode: sent as typed, no line buffering
    resize = stub.find("POST", "/resize")[0]
    assert (resize.q("h"), resize.q("w")) == ("30", "100")
    create = stub.find("POST", "/containers/create")[0].json()
    assert create["Tty"] and create["OpenStdin"] and create["AttachStdin"] and create["StdinOnce"]
    assert stub.find("POST", "/attach")[0].q("stdin") == "1"


def test_detach_keys_leave_without_waiting(stub: StubDaemon, tmp_path: object) -> None:
    stub.route("POST", "/containers/create", lambda r: json_reply({"Id": CID, "Warnings": []}, 201))

    def attach(sock: socket.socket) -> None:
        sock.settimeout(10)
        data = b""
        while b"\x10\x11" not in data:
            chunk = sock.recv(100)
            if not chunk:
                break
            data += chunk
        sock.close()  # the daemon ends the attach on the escape sequence; the container keeps running

    def wait(r: Request) -> Reply:
        def body() -> Iterator[bytes]:
            yield b" "
            time.sleep(30)  # never exits during the test
            yield b"{}"

        return Reply(200, body(), chunked=True)

    stub.route("POST", "/containers/[^/]+/attach", lambda r: Reply(200, hijack=attach))
    stub.route("POST", "/containers/[^/]+/wait", wait)
    stub.route("POST", "/containers/[^/]+/start", lambda r: Reply(204))
    stub.route("POST", "/containers/[^/]+/resize", lambda r: Reply(200))
    master, slave = pty.openpty()
    env = dict(os.environ, PYTHONPATH=SRC, BERTH_HOST=stub.host, BERTH_CONFIG=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "berth.cli.main", "run", "-it", "busybox", "sh"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    try:
        deadline = time.monotonic() + 15
        while not stub.find("POST", "/start") and time.monotonic() < deadline:
            time.sleep(0.05)
        os.write(master, b"ls\x10\x11")
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
