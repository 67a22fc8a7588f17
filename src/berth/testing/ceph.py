"""A one-node Ceph with its RADOS Gateway on loopback, for tests and benchmarks: a real S3 server.

One ceph-mon, one ceph-osd on memstore (its objects live in the OSD's memory), one radosgw, pool size
1, auth off and the ``crc`` messenger mode (radosgw otherwise insists on a secure connection). Every
file — config, mon and osd data, logs, admin sockets — lives under ``root``; nothing touches
/etc/ceph or /var/log/ceph. The daemons run in the foreground as our children and are stopped by PID.

    ceph = start_ceph(tmp / "ceph")        # ~12 s on 2 cores
    try:
        ceph.create_bucket("blobs")        # S3 at ceph.endpoint with ceph.access_key / secret_key
    finally:
        ceph.stop()

``python -m berth.testing.ceph DIR`` (or ``scripts/ceph-s3 DIR``) starts one and waits for Ctrl-C.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berth.registry.storage.s3 import S3Settings
from berth.testing.registry import free_port

ACCESS_KEY = "berthtestaccesskey"
SECRET_KEY = "berthtestsecretkey0123456789"  # a test cluster on loopback; not a credential
_START_TIMEOUT = 90.0


class CephError(RuntimeError):
    """The cluster did not come up; the message names the daemon and the tail of its log."""


@dataclass
class CephCluster:
    root: Path
    endpoint: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = "default"
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def conf(self) -> Path:
        return self.root / "ceph.conf"

    def create_bucket(self, name: str) -> None:
        """A bucket owned by the test user (boto3 is imported here: only S3 users need it)."""
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )
        try:
            client.create_bucket(Bucket=name)
        finally:
            client.close()

    def collect_garbage(self) -> None:
        """Run radosgw's garbage collection now: a deleted object's data stays in the OSD (memstore's
        memory, which slows every write as it fills) until gc, which otherwise waits hours."""
        _run(self.root, "radosgw-admin", "-c", str(self.conf), "gc", "process", "--include-all")

    def stop(self) -> None:
        """SIGTERM each daemon (newest first), SIGKILL after 3 s."""
        for proc in reversed(self.processes):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.processes):
            try:
                proc.wait(timeout=3)  # memstore: nothing to keep, so no long clean shutdown
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.processes.clear()


def s3_settings(cluster: CephCluster, bucket: str, **overrides: Any) -> S3Settings:
    """The S3Driver settings for ``bucket`` on ``cluster`` (path-style, its test user's keys)."""
    return S3Settings(
        bucket=bucket,
        endpoint=cluster.endpoint,
        region=cluster.region,
        access_key=cluster.access_key,
        secret_key=cluster.secret_key,
        **overrides,
    )


def _config(root: Path, fsid: str, mon_port: int, rgw_port: int) -> str:
    return f"""[global]
fsid = {fsid}
mon_host = v2:127.0.0.1:{mon_port}
public_addr = 127.0.0.1
ms_bind_ipv6 = false
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
ms_cluster_mode = crc
ms_service_mode = crc
ms_client_mode = crc
ms_mon_cluster_mode = crc
ms_mon_service_mode = crc
ms_mon_client_mode = crc
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_max_pg_per_osd = 1000
mon_allow_pool_delete = true
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_objectstore = memstore
memstore_device_bytes = 4294967296
run_dir = {root}/run
log_file = {root}/log/$name.log
admin_socket = {root}/run/$name.asok
pid_file = {root}/run/$name.pid
mon_data = {root}/mon/$cluster-$id
osd_data = {root}/osd/$cluster-$id
keyring = {root}/keyring
crash_dir = {root}/crash
exec_dir = {root}/run
erasure_code_dir = /usr/lib/x86_64-linux-gnu/ceph/erasure-code
log_to_stderr = false
err_to_stderr = false
debug_ms = 0

[client.rgw.berth]
rgw_frontends = beast endpoint=127.0.0.1:{rgw_port} tcp_nodelay=1
rgw_data = {root}/rgw
rgw_dns_name = 127.0.0.1
rgw_thread_pool_size = 64
"""


def _run(root: Path, *args: str) -> str:
    result = subprocess.run(list(args), capture_output=True, text=True, timeout=60, cwd=root)
    if result.returncode != 0:
        raise CephError(f"{' '.join(args[:3])} failed: {result.stderr.strip()[-2000:]}")
    return result.stdout


def _daemon(cluster: CephCluster, *args: str) -> None:
    log = open(cluster.root / "log" / f"{args[0]}.stdout", "wb")  # noqa: SIM115 - kept by the child
    with log:
        cluster.processes.append(
            subprocess.Popen([*args, "-f", "-c", str(cluster.conf)], stdout=log, stderr=subprocess.STDOUT)
        )


def _log_tail(root: Path) -> str:
    tails = []
    for log in sorted((root / "log").glob("*")):
        lines = log.read_text(errors="replace").splitlines()[-15:]
        tails.append(f"--- {log.name}\n" + "\n".join(lines))
    return "\n".join(tails)


def _wait(cluster: CephCluster, what: str, ready: Callable[[], bool], deadline: float) -> None:
    while time.monotonic() < deadline:
        for proc in cluster.processes:
            if proc.poll() is not None:
                raise CephError(f"{proc.args!r} exited with {proc.returncode} waiting for {what}")
        if ready():
            return
        time.sleep(0.2)
    raise CephError(f"timed out waiting for {what}")


def _osd_up(cluster: CephCluster) -> bool:
    out = subprocess.run(
        ["ceph", "-c", str(cluster.conf), "osd", "stat", "-f", "json", "--connect-timeout", "5"],
        capture_output=True,
        text=True,
    )
    return out.returncode == 0 and json.loads(out.stdout or "{}").get("num_up_osds", 0) >= 1


def _rgw_up(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(endpoint, timeout=2):
            return True
    except urllib.error.HTTPError as answer:
        answer.close()
        return True  # any S3 answer (403 for anonymous) means it serves
    except OSError:
        return False


def start_ceph(root: Path) -> CephCluster:
    """Make and start a one-node cluster under ``root``; CephError (with the logs' tails) if it fails."""
    for sub in ("run", "log", "mon/ceph-a", "osd/ceph-0", "rgw", "crash"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    fsid = str(uuid.uuid4())
    mon_port, rgw_port = free_port(), free_port()
    cluster = CephCluster(root, f"http://127.0.0.1:{rgw_port}")
    cluster.conf.write_text(_config(root, fsid, mon_port, rgw_port))
    conf = str(cluster.conf)
    deadline = time.monotonic() + _START_TIMEOUT
    try:
        keyring = str(root / "keyring")
        _run(
            root,
            "ceph-authtool",
            "--create-keyring",
            keyring,
            "--gen-key",
            "-n",
            "mon.",
            "--cap",
            "mon",
            "allow *",
        )
        _run(
            root,
            "monmaptool",
            "--create",
            "--fsid",
            fsid,
            "--addv",
            "a",
            f"[v2:127.0.0.1:{mon_port}]",
            "monmap",
        )
        _run(root, "ceph-mon", "-c", conf, "--mkfs", "-i", "a", "--monmap", str(root / "monmap"))
        _daemon(cluster, "ceph-mon", "-i", "a")
        osd_uuid = str(uuid.uuid4())
        osd_id = _run(root, "ceph", "-c", conf, "--connect-timeout", "30", "osd", "new", osd_uuid).strip()
        _run(root, "ceph-osd", "-c", conf, "-i", osd_id, "--mkfs", "--osd-uuid", osd_uuid)
        _daemon(cluster, "ceph-osd", "-i", osd_id)
        _wait(cluster, "the osd", lambda: _osd_up(cluster), deadline)
        _daemon(cluster, "radosgw", "-n", "client.rgw.berth")
        _wait(cluster, "radosgw", lambda: _rgw_up(cluster.endpoint), deadline)
        _run(
            root,
            "radosgw-admin",
            "-c",
            conf,
            "user",
            "create",
            "--uid",
            "berth",
            "--display-name",
            "berth tests",
            "--access-key",
            ACCESS_KEY,
            "--secret-key",
            SECRET_KEY,
        )
    except BaseException as exc:
        cluster.stop()
        if isinstance(exc, CephError):
            raise CephError(f"{exc}\n{_log_tail(root)}") from exc
        raise
    return cluster


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else f"/tmp/berth-ceph-{os.getpid()}")
    started = time.monotonic()
    cluster = start_ceph(root)
    print(f"ceph up in {time.monotonic() - started:.1f} s: S3 at {cluster.endpoint}")
    print(f"access key {cluster.access_key}, secret key {cluster.secret_key}, region {cluster.region}")
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
