"""A real berthd on a temporary root, socket and cgroup parent, and clean-up that leaves nothing behind.

``start_daemon`` waits until the socket answers ``/_ping``; ``cleanup_daemon`` removes every container
through the API, stops the daemon by PID, kills (by pid) whatever its shims or cgroups still hold,
removes the cgroups and unmounts anything left under the root — even after a failed test.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
BERTH = str(VENV_BIN / "berth")
BERTHD = str(VENV_BIN / "berthd")
DOCKER = shutil.which("docker") or "docker"


@dataclass
class Daemon:
    root: Path
    socket: Path
    data_root: Path
    exec_root: Path
    cgroup_parent: str
    process: subprocess.Popen[bytes]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def berth(
        self, *args: str, input: bytes | None = None, timeout: float = 120, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        return _run([BERTH, *args], self.env, input, timeout, check)

    def docker(
        self, *args: str, input: bytes | None = None, timeout: float = 120, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        return _run([DOCKER, *args], self.env, input, timeout, check)

    def log_text(self) -> str:
        try:
            return (self.root / "berthd.stderr").read_text()
        except OSError:
            return ""


def _run(
    argv: list[str], env: dict[str, str], input: bytes | None, timeout: float, check: bool
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, env=env, input=input, capture_output=True, timeout=timeout)
    result = subprocess.CompletedProcess(
        argv, proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr.strip()}")
    return result


def _wait_for_socket(path: Path, process: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"berthd exited with {process.returncode}")
        if path.exists():
            with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as s:
                s.connect(str(path))
                s.sendall(b"GET /_ping HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        time.sleep(0.02)
    raise RuntimeError("berthd did not answer /_ping in time")


def bridge_for(cgroup_parent: str) -> tuple[str, str]:
    """The default bridge's name and address for a test daemon: its own, so tests never share one,
    and the same again when a test restarts its daemon (its bridge is still there: its address is
    kept). A new daemon's /24 starts where its name hashes to and moves past any the host routes
    already (another daemon's bridge, a network a test made): hashes of a few hundred daemons collide."""
    digest = hashlib.sha256(cgroup_parent.encode()).digest()
    name = f"bt{digest[:4].hex()}"
    kept = _address_of(name)
    if kept is not None:
        return name, kept
    routed = _host_routes()
    start = int.from_bytes(digest[4:6]) % _SLOTS
    for step in range(_SLOTS):
        slot = (start + step) % _SLOTS
        subnet = ipaddress.IPv4Network(f"10.{200 + slot // 256}.{slot % 256}.0/24")
        if not any(subnet.overlaps(route) for route in routed):
            return name, f"{subnet.network_address + 1}/24"
    raise RuntimeError("no free /24 in 10.200.0.0-10.249.255.0 for a test daemon's bridge")


_SLOTS = 50 * 256  # the /24s of 10.200.0.0 to 10.249.255.0


def _address_of(link: str) -> str | None:
    shown = subprocess.run(["ip", "-j", "-4", "addr", "show", "dev", link], capture_output=True, text=True)
    if shown.returncode != 0:
        return None
    for entry in json.loads(shown.stdout or "[]"):
        for address in entry.get("addr_info", []):
            return f"{address['local']}/{address['prefixlen']}"
    return None


def _host_routes() -> list[ipaddress.IPv4Network]:
    shown = subprocess.run(
        ["ip", "-j", "-4", "route", "show", "table", "all"], capture_output=True, text=True
    )
    routes = []
    for entry in json.loads(shown.stdout or "[]"):
        with contextlib.suppress(ValueError):
            if entry.get("dst") not in (None, "default") and entry.get("type", "unicast") == "unicast":
                routes.append(ipaddress.IPv4Network(entry["dst"], strict=False))
    return routes


def start_daemon(
    root: Path,
    cgroup_parent: str,
    extra: list[str] | None = None,
    *,
    crash_at: str = "",
    env: dict[str, str] | None = None,
) -> Daemon:
    """berthd on ``root`` (``crash_at``: the crash points it SIGKILLs itself at, util/faults.py;
    ``env``: more of its environment, as a benchmark's ``LD_PRELOAD``)."""
    data_root, exec_root, sock = root / "data", root / "run", root / "berth.sock"
    bridge, bip = bridge_for(cgroup_parent)
    stderr = open(root / "berthd.stderr", "ab")  # noqa: SIM115 — owned by the daemon process
    process = subprocess.Popen(
        [
            BERTHD,
            "--data-root",
            str(data_root),
            "--exec-root",
            str(exec_root),
            "-H",
            f"unix://{sock}",
            "--cgroup-parent",
            cgroup_parent,
            "--log-level",
            "debug",
            "--bridge",
            bridge,
            "--bip",
            bip,
            *(extra or []),
        ],
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        start_new_session=True,
        env={**os.environ, **(env or {}), **({"BERTH_CRASH_AT": crash_at} if crash_at else {})},
    )
    stderr.close()
    client_env = dict(
        os.environ,
        BERTH_HOST=f"unix://{sock}",
        DOCKER_HOST=f"unix://{sock}",
        BERTH_CONFIG=str(root / "client"),
        DOCKER_CONFIG=str(root / "docker-client"),
    )
    client_env.pop("DOCKER_API_VERSION", None)
    daemon = Daemon(root, sock, data_root, exec_root, cgroup_parent, process, client_env)
    try:
        _wait_for_socket(sock, process, time.monotonic() + 20)
    except RuntimeError as exc:
        stop_daemon(daemon)
        raise RuntimeError(f"{exc}\n{daemon.log_text()}") from exc
    return daemon


def stop_daemon(daemon: Daemon) -> None:
    if daemon.process.poll() is None:
        daemon.process.send_signal(signal.SIGTERM)
        try:
            daemon.process.wait(15)
        except subprocess.TimeoutExpired:
            daemon.process.kill()
            daemon.process.wait()


def _remove_all_containers(daemon: Daemon) -> None:
    if daemon.process.poll() is not None:
        return
    with contextlib.suppress(Exception):
        ids = daemon.berth("ps", "-aq", "--no-trunc", timeout=30).stdout.split()
        if ids:
            daemon.berth("rm", "-f", *ids, timeout=60)


def cgroup_roots(cgroup_parent: str) -> list[Path]:
    """Where a daemon's ``--cgroup-parent`` lies in each cgroup hierarchy (v1 controllers, v2), under
    this process's own cgroups, as berthd nests them."""
    own = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") or [""]:
            own[controller] = path
    roots = []
    base = Path("/sys/fs/cgroup")
    for mount in base.iterdir():
        if (mount / "cgroup.procs").exists() or mount.name == "unified":
            key = "" if mount.name == "unified" else mount.name
            rel = own.get(key, own.get(f"name={mount.name}", "/"))
            roots.append(mount / rel.lstrip("/") / cgroup_parent)
    if (base / "cgroup.procs").exists():
        roots.append(base / own.get("", "/").lstrip("/") / cgroup_parent)
    return roots


def _kill_cgroup_processes(cgroup_parent: str) -> None:
    """Kill (by pid, read from our own test cgroups) whatever a failed test left running, then rmdir."""
    roots = cgroup_roots(cgroup_parent)
    for root in roots:
        if not root.is_dir():
            continue
        for procs in sorted(root.rglob("cgroup.procs"), key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):
                for pid in procs.read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
        for directory in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)) + [
            root
        ]:
            for _ in range(50):
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


def unmount_under(root: Path) -> None:
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for mount_point in sorted((m for m in mounts if m.startswith(str(root))), key=len, reverse=True):
        subprocess.run(["umount", "-l", mount_point], check=False, capture_output=True)


def cleanup_daemon(daemon: Daemon) -> None:
    _remove_all_containers(daemon)
    stop_daemon(daemon)
    _kill_shims(daemon.exec_root)
    _kill_cgroup_processes(daemon.cgroup_parent)
    unmount_under(daemon.root)  # the containers' network namespaces too
    _delete_bridges(daemon)


def _delete_bridges(daemon: Daemon) -> None:
    """What ``berthd --cleanup`` removes (its nftables table, its bridges, by name), done in this
    process (a test's teardown then costs no interpreter start); should that fail, the bridges one by
    one: only links this daemon made."""
    from berth.daemon.cleanup import cleanup
    from berth.daemon.config import DaemonConfig

    bridge, _ = bridge_for(daemon.cgroup_parent)
    config = DaemonConfig(data_root=daemon.data_root, exec_root=daemon.exec_root, bridge=bridge)
    with contextlib.suppress(Exception):
        cleanup(config)
        return
    names = [bridge_for(daemon.cgroup_parent)[0]]
    for record in (daemon.data_root / "networks").glob("*.json"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            names.append(str(json.loads(record.read_text())["Device"]))
    for name in names:
        subprocess.run(["ip", "link", "delete", name], check=False, capture_output=True)


def _start_time(pid: int) -> int | None:
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return int(data[data.rindex(b")") + 2 :].split()[19])


def shim_pids(exec_root: Path) -> list[int]:
    """Pids of the live shims under ``exec_root`` (state.json's pid, checked against its start time)."""
    pids = []
    for state_file in (exec_root / "runtime").glob("*/state.json"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            state = json.loads(state_file.read_text())
            pid = int(state["shim_pid"])
            if _start_time(pid) == int(state["shim_start"]):
                pids.append(pid)
    return pids


def _kill_shims(exec_root: Path) -> None:
    """Kill the shims this daemon started (found by pid in their state files)."""
    for pid in shim_pids(exec_root):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
