"""Published ports (issue 12): a 200 MB HTTP GET and small GETs per second through the kernel path
(`-p 127.0.0.1:PORT:80`: DNAT in Berth's nftables table), through berthd's user-space relay (`-p
[::1]:PORT:80` to an IPv4-only container: the one case the kernel cannot carry), straight to the
container's bridge address (the floor), and through docker.io's `docker-proxy` when installed (started as
dockerd starts it, stopped by PID). Goal: the kernel path within 10% of straight.

Then the cost of a range of 10,000 published ports (processes and berthd's RSS before and after;
goal: no process, under 5 MB), and `run --rm` on the default bridge with NAT and DNS on against the
same daemon code with nftables off (`BERTH_NFTABLES=off`), alternated (goal: within 10%)."""

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

from berth.testing.daemon import Daemon, bridge_for, cleanup_daemon, start_daemon  # noqa: E402

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
        relay_port = free_port()
        daemon.berth(
            "run", "-d", "--name", "web", "--tmpfs", "/www", "-p", f"127.0.0.1:{port}:80",
            "-p", f"[::1]:{relay_port}:80", "busybox", "sh", "-c", script, check=True,
        )  # fmt: skip
        address = daemon.berth(
            "inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", "web", check=True
        ).stdout.strip()
        wait_for(address, 80)
        wait_for("127.0.0.1", port)
        wait_for("::1", relay_port)
        proxy_port = free_port()
        proxy = start_docker_proxy(proxy_port, address)
        proxy_kb = 0
        try:
            samples: dict[str, list[float]] = {"direct": [], "kernel": [], "relay": [], "docker-proxy": []}
            rates: dict[str, float] = {}
            targets = {"direct": (address, 80), "kernel": ("127.0.0.1", port), "relay": ("::1", relay_port)}
            if proxy is not None:
                targets["docker-proxy"] = ("127.0.0.1", proxy_port)
            for _ in range(RUNS):  # alternate, so that drift hits all alike
                for key, (host, target_port) in targets.items():
                    samples[key].append(get_seconds(host, target_port))
            for key, (host, target_port) in targets.items():
                rates[key] = requests_per_second(host, target_port)
            proxy_kb = _rss_kb(proxy.pid) if proxy is not None else 0  # after carrying traffic
        finally:
            if proxy is not None:
                proxy.terminate()
                proxy.wait()
        names = {
            "direct": "straight to the container (floor)",
            "kernel": "-p 127.0.0.1: kernel DNAT",
            "relay": "-p [::1]: berthd's relay",
            "docker-proxy": "docker-proxy (docker.io 20.10)",
        }
        for key, name in names.items():
            values = samples[key]
            rows.append(
                (name, min(values), statistics.median(values), rates.get(key, float("nan")))
                if values
                else (name, float("nan"), float("nan"), float("nan"))
            )
        wide = ten_thousand_ports(daemon)
    finally:
        cleanup_daemon(daemon)
        shutil.rmtree(root, ignore_errors=True)
    run_rows = run_latency()
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

    processes, created_kb, started_kb, elements = wide
    print(f"\n10,000 published ports (-p 20000-29999:20000-29999): {processes} new processes besides the "
          f"container's, {elements} kernel map elements; berthd RSS {created_kb / 1024:+.1f} MB at create "
          f"(its 10,000 PortBindings and ExposedPorts, held as runs), {started_kb / 1024:+.1f} MB at start "
          f"(publishing them), {(created_kb + started_kb) / 1024:+.1f} MB in all: goal < 5 MB")  # fmt: skip
    if proxy_kb:
        print(f"docker-proxy, one process per published port: {proxy_kb / 1024:.1f} MB RSS each, "
              f"so ≈{proxy_kb * 10_000 / 1024 / 1024:.0f} GB and 10,000 processes for the same range")  # fmt: skip
    (on, off) = run_rows
    print(f"\nrun --rm busybox true, default bridge (median of {RUN_PAIRS} alternated): NAT and DNS on "
          f"{on:.0f} ms, nftables off {off:.0f} ms: {on / off:.2f}×")  # fmt: skip


RUN_PAIRS = 30


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _berthd_pid(daemon: Daemon) -> int:
    return daemon.process.pid


def ten_thousand_ports(daemon: Daemon) -> tuple[int, int, int, int]:
    """(new processes other than the container's, berthd's RSS growth in kB at create — its record of
    the 10,000 bindings the client sent — and at start — publishing them —, map elements).
    The range is below the host's ephemeral ports: one in TIME_WAIT refuses a bind for a minute."""
    pid = _berthd_pid(daemon)
    procs_before, rss_before = len([p for p in os.listdir("/proc") if p.isdigit()]), _rss_kb(pid)
    daemon.berth("create", "--name", "wide", "-p", "20000-29999:20000-29999", "busybox", "sleep", "600",
                 check=True, timeout=300)  # fmt: skip
    time.sleep(1)
    rss_created = _rss_kb(pid)
    daemon.berth("start", "wide", check=True, timeout=300)
    time.sleep(1)
    procs_after, rss_started = len([p for p in os.listdir("/proc") if p.isdigit()]), _rss_kb(pid)
    table = "berth-" + bridge_for(daemon.cgroup_parent)[0]
    listed = subprocess.run(
        ["nft", "list", "map", "inet", table, "dnat4_any"], capture_output=True, text=True
    )
    container_procs = 2  # its init (sleep) and its monitor
    return (
        procs_after - procs_before - container_procs,
        rss_created - rss_before,
        rss_started - rss_created,
        listed.stdout.count(" : "),
    )


def run_latency() -> tuple[float, float]:
    """Median ``run --rm`` ms with NAT and DNS, and with nftables off, alternated between two daemons."""
    daemons = []
    try:
        for flag in ("", "off"):
            root = Path(tempfile.mkdtemp(prefix="berth-bench-"))
            if flag:
                os.environ["BERTH_NFTABLES"] = flag
            try:
                daemons.append((root, start_daemon(root, f"berth-bench-{uuid.uuid4().hex[:8]}")))
            finally:
                os.environ.pop("BERTH_NFTABLES", None)
            daemons[-1][1].berth("bootstrap", "busybox", check=True)
        times: list[list[float]] = [[], []]
        for _ in range(RUN_PAIRS):
            for index, (_, daemon) in enumerate(daemons):
                begun = time.perf_counter()
                daemon.berth("run", "--rm", "busybox", "true", check=True)
                times[index].append((time.perf_counter() - begun) * 1000)
        return statistics.median(times[0]), statistics.median(times[1])
    finally:
        for root, daemon in daemons:
            cleanup_daemon(daemon)
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
