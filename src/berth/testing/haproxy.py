"""Debian's haproxy in front of registry replicas on loopback, for tests, benches and ``make demo-scale``.

    with load_balancer([replica_a.port, replica_b.port]) as lb:
        ...  # lb.url spreads requests round-robin; a replica that stops answering leaves the pool

Health checks (``GET /v2/``: 200 or 401 is alive) run every 200 ms, so a killed replica is out within
about a second (three failed checks: a replica busy with 50 clients may miss one) and a client's retry reaches one that lives. Stopped by its PID.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from berth.testing.registry import RegistryProcess, _serve, free_port

HAPROXY = Path("/usr/sbin/haproxy")


@dataclass
class LoadBalancer:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"


def _config(port: int, backends: list[int]) -> str:
    servers = "\n".join(
        f"    server r{i} 127.0.0.1:{p} check inter 200ms fall 3 rise 2" for i, p in enumerate(backends)
    )
    return f"""global
    maxconn 2000
defaults
    mode http
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    timeout check 2s
    option http-server-close
    retries 2
    option redispatch
frontend registry
    bind 127.0.0.1:{port}
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /v2/
    http-check expect rstatus ^(200|401)$
{servers}
"""


def _wait_all_up(balancer: RegistryProcess, backends: int) -> None:
    """Until every backend passed its health checks: that many rounds of answers in a row that are
    not haproxy's own 503 (round-robin sends consecutive requests to each in turn)."""
    deadline, good = time.monotonic() + 15, 0
    while good < 2 * backends:
        if time.monotonic() > deadline:
            raise RuntimeError(f"haproxy's backends did not come up: {balancer.log.read_text()[-2000:]}")
        status = balancer.request("GET", "/v2/")[0]
        good = good + 1 if status in (200, 401) else 0
        if not good:
            time.sleep(0.1)


@contextlib.contextmanager
def load_balancer(backends: list[int]) -> Iterator[LoadBalancer]:
    if not HAPROXY.exists():
        raise RuntimeError("haproxy is not installed (Debian package haproxy)")
    directory = Path(tempfile.mkdtemp(prefix="berth-haproxy-"))
    port = free_port()
    config = directory / "haproxy.cfg"
    config.write_text(_config(port, backends))
    log = directory / "haproxy.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(HAPROXY), "-db", "-f", str(config)], stdout=out, stderr=subprocess.STDOUT
        )
    # the same wait as a registry's: until it listens, or its log if it exits
    probe = RegistryProcess("haproxy", directory, port, process, log)
    try:
        _serve(probe)
        _wait_all_up(probe, len(backends))
        yield LoadBalancer(port, process, log)
    finally:
        probe.stop()
        shutil.rmtree(directory, ignore_errors=True)
