"""Published-port throughput: a 200 MB HTTP GET through berthd's relay (`-p 127.0.0.1:PORT:80`) against
the floor, the same GET straight to the container's bridge address (no relay: the kernel's veth and
bridge only), and docker.io's `docker-proxy` relaying to the same container when it is installed
(started as dockerd starts it, stopped by PID)."""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from berth.testing.daemon import cleanup_daemon, start_daemon  # noqa: E402

SIZE_MB = 200
RUNS = 7
_BUFFER = bytearray(SIZE_MB * 1024 * 1024 + 65536)  # allocated once: not timed


def get_seconds(host: str, port: int) -> float:
    """One GET of /big over a raw socket, read into a preallocated buffer; wall seconds."""
    view = memoryview(_BUFFER)
    begun = time.perf_counter()
    with socket.create_connection((host, port), timeout=30) as conn:
        conn.sendall(b"GET /big HTTP/1.0\r\nHost: bench\r\n\r\n")
        got = 0
        while n := conn.recv_into(view[got:], min(1 << 20, len(view) - got)):
            got += n
    elapsed = time.perf_counter() - begun
    if got < SIZE_MB * 1024 * 1024:
        raise RuntimeError(f"short read from {host}:{port}: {got} bytes")
    return elapsed


def requests_per_second(host: str, port: int, count: int = 300) -> float:
    """Sequential connections, each a GET of a 2-byte file: the cost of a relay's accept and connect."""
    begun = time.perf_counter()
    for _ in range(count):
        with socket.create_connection((host, port), timeout=10) as conn:
            conn.sendall(b"GET /small HTTP/1.0\r\nHost: bench\r\n\r\n")
            while conn.recv(65536):
                pass
    return count / (time.perf_counter() - begun)


def wait_for(host: str, port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            get_seconds(host, port)
            return
        except (OSError, RuntimeError):
            time.sleep(0.2)
    raise RuntimeError(f"nothing served {host}:{port}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_docker_proxy(port: int, address: str) -> subprocess.Popen[bytes] | None:
    """docker.io's userland proxy on ``port``, as dockerd starts it (readiness on fd 3); stopped by PID."""
    binary = shutil.which("docker-proxy") or (
        "/usr/sbin/docker-proxy" if os.path.exists("/usr/sbin/docker-proxy") else None
    )
    if binary is None:
        return None
    ready_r, ready_w = os.pipe()
    argv = [binary, "-proto", "tcp", "-host-ip", "127.0.0.1", "-host-port", str(port),
            "-container-ip", address, "-container-port", "80"]  # fmt: skip
    # the proxy writes "0\n" to its fd 3 once it listens
    proxy = subprocess.Popen(  # noqa: PLW1509
        argv, pass_fds=(3,), preexec_fn=lambda: os.dup2(ready_w, 3), stderr=subprocess.DEVNULL
    )
    os.close(ready_w)
    with os.fdopen(ready_r) as ready:
        if ready.read(2) != "0\n":
            proxy.kill()
            proxy.wait()
            return None
    return proxy


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="berth-bench-"))
    daemon = start_daemon(root, f"berth-bench-{uuid.uuid4().hex[:8]}")
    rows: list[tuple[str, float, float, float]] = []
    try:
        daemon.berth("bootstrap", "busybox", check=True)
        port = free_port()
        script = (
            f"dd if=/dev/zero of=/www/big bs=1M count={SIZE_MB} 2>/dev/null && echo ok > /www/small && "
            "exec httpd -f -p 80 -h /www"
        )
        daemon.berth(
            "run", "-d", "--name", "web", "--tmpfs", "/www", "-p", f"127.0.0.1:{port}:80",
            "busybox", "sh", "-c", script, check=True,
        )  # fmt: skip
        address = daemon.berth(
            "inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", "web", check=True
        ).stdout.strip()
        wait_for(address, 80)
        wait_for("127.0.0.1", port)
        proxy_port = free_port()
        proxy = start_docker_proxy(proxy_port, address)
        try:
            samples: dict[str, list[float]] = {"direct": [], "berth": [], "docker-proxy": []}
            rates: dict[str, float] = {}
            targets = {"direct": (address, 80), "berth": ("127.0.0.1", port)}
            if proxy is not None:
                targets["docker-proxy"] = ("127.0.0.1", proxy_port)
            for _ in range(RUNS):  # alternate, so that drift hits all alike
                for key, (host, target_port) in targets.items():
                    samples[key].append(get_seconds(host, target_port))
            for key, (host, target_port) in targets.items():
                rates[key] = requests_per_second(host, target_port)
        finally:
            if proxy is not None:
                proxy.terminate()
                proxy.wait()
        names = {
            "direct": "straight to the container (floor)",
            "berth": "through berthd's relay (-p)",
            "docker-proxy": "docker-proxy (docker.io 20.10)",
        }
        for key, name in names.items():
            values = samples[key]
            rows.append(
                (name, min(values), statistics.median(values), rates.get(key, float("nan")))
                if values
                else (name, float("nan"), float("nan"), float("nan"))
            )
    finally:
        cleanup_daemon(daemon)
        shutil.rmtree(root, ignore_errors=True)
    floor = rows[0][2]
    print(
        f"{'GET 200 MB':<36} {'best':>8} {'median':>8} {'MB/s':>7} {'small GETs/s':>13}  ratio to floor (median)"
    )
    for name, best, median, rate in rows:
        if median != median:  # nan: not installed
            print(f"{name:<36} {'not installed':>25}")
            continue
        print(
            f"{name:<36} {best:>7.3f}s {median:>7.3f}s {SIZE_MB / median:>7.0f} {rate:>13.0f}  {floor / median:.2f}×"
        )


if __name__ == "__main__":
    main()
