"""A pull whose connection breaks in the middle of a layer completes by resuming it: berthd pulls from
berth-registry through a TCP proxy on loopback that cuts the first connection to carry more than 4 MB
towards the client (the 8 MB layer's), berthd asks for the rest with ``Range``, the registry answers
206, and a container of the pulled image checks the layer's bytes."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from registry_e2e_helpers import RunningRegistry, answered, sha, start_registry
from tests.e2e.conftest import Daemon

_PAYLOAD = 8 << 20
_CUT_AFTER = 4 << 20  # more than the manifests, the config and busybox's layer on one connection


class CuttingProxy:
    """Relays loopback connections to ``target``; closes the first one that has sent more than
    ``cut_after`` bytes towards its client (both sides, as a dropped link would)."""

    def __init__(self, target: int, cut_after: int) -> None:
        self._target = target
        self._cut_after = cut_after
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            try:
                upstream = socket.create_connection(("127.0.0.1", self._target))
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, towards_client: bool) -> None:
        sent = 0
        try:
            while data := source.recv(1 << 16):
                sink.sendall(data)
                sent += len(data)
                if towards_client and sent > self._cut_after:
                    with self._lock:
                        cut = self.cuts == 0
                        self.cuts = 1
                    if cut:
                        break
        except OSError:
            pass  # the other side went away
        for end in (source, sink):  # shutdown first: it wakes the other pump's recv, close alone does not
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def plain_registry(tmp_path: Path) -> Iterator[RunningRegistry]:
    reg = start_registry(tmp_path / "root", users={"alice": "alicepw"})
    try:
        yield reg
    finally:
        reg.stop()


@pytest.mark.root
@pytest.mark.docker_cli
@pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI")
def test_a_pull_whose_connection_breaks_resumes_the_layer(
    berthd: Daemon, busybox_image: str, plain_registry: RunningRegistry, tmp_path: Path
) -> None:
    payload = os.urandom(_PAYLOAD)  # random: the gzip'd layer stays over 8 MB
    context = tmp_path / "context"
    context.mkdir()
    (context / "payload.bin").write_bytes(payload)
    (context / "Dockerfile").write_text(f"FROM {busybox_image}\nCOPY payload.bin /payload.bin\n")
    pushed = f"{plain_registry.host}/alice/resumed:1"
    berthd.berth("build", "-t", pushed, str(context), check=True, timeout=120)
    login = ("login", "-u", "alice", "--password-stdin")
    berthd.docker(*login, plain_registry.host, input=b"alicepw\n", check=True)
    berthd.docker("push", pushed, check=True, timeout=120)

    proxy = CuttingProxy(plain_registry.port, _CUT_AFTER)
    try:
        through = f"127.0.0.1:{proxy.port}/alice/resumed:1"
        berthd.docker(*login, f"127.0.0.1:{proxy.port}", input=b"alicepw\n", check=True)
        berthd.docker("rmi", pushed, check=True)
        ranged_before = answered(plain_registry, "206")
        pulled = berthd.docker("pull", through, timeout=120)
        assert pulled.returncode == 0, pulled.stderr
        assert proxy.cuts == 1
        assert answered(plain_registry, "206") == ranged_before + 1  # the rest of the layer, once
        ran = berthd.docker("run", "--rm", through, "sha256sum", "/payload.bin", check=True, timeout=60)
        assert ran.stdout.split()[0] == sha(payload).removeprefix("sha256:")
    finally:
        proxy.close()
