"""``make demo-scale``: berth-registry at scale on one machine, brought up, used and torn down.

A one-node Ceph (radosgw: the object store), Debian's PostgreSQL (the metadata), two
``berth-registry serve`` replicas on their own roots sharing both, and haproxy in front. skopeo
pushes an image through the balancer, pulls it back from each replica directly, then one replica is
stopped and the pull through the balancer still works. Everything started is stopped by PID and its
temporary directories removed, also on failure or Ctrl-C.

    python -m berth.testing.scale [--keep]   # --keep: leave it running until Ctrl-C
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from berth.testing.ceph import start_ceph
from berth.testing.haproxy import load_balancer
from berth.testing.oci_layout import make_oci_layout
from berth.testing.postgres import postgres_server
from berth.testing.registry import RegistryProcess, start_berth_registry

USER, PASSWORD = "alice", "alicepw"


def _step(what: str) -> Iterator[None]:
    started = time.monotonic()
    print(f"-- {what} ...", flush=True)
    yield
    print(f"   done in {time.monotonic() - started:.1f} s", flush=True)


step = contextlib.contextmanager(_step)


def _skopeo(*args: str) -> str:
    result = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=180, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"skopeo {args[0]} failed: {result.stderr.strip()}")
    return result.stdout


def _config(directory: Path, endpoint: str, access_key: str, secret_key: str, database_url: str) -> Path:
    config = directory / "registry.yaml"
    config.write_text(
        "storage:\n"
        "  driver: s3\n"
        f"  s3: {{endpoint: {endpoint}, region: default, bucket: registry, access_key: {access_key},\n"
        f"        secret_key: {secret_key}, path_style: true}}\n"
        f"metadata: {{driver: postgres, url: {json.dumps(database_url)}}}\n"
        f"auth: {{signing_key: {directory / 'signing.pem'}}}\n"
    )
    return config


def run(keep: bool) -> None:
    directory = Path(tempfile.mkdtemp(prefix="berth-demo-scale-"))
    replicas: list[RegistryProcess] = []
    ceph = None
    try:
        with step("one-node Ceph (mon, memstore osd, radosgw) on loopback"):
            ceph = start_ceph(directory / "ceph")
            ceph.create_bucket("registry")
        print(f"   S3 at {ceph.endpoint}")
        with postgres_server() as pg:
            print(f"   PostgreSQL on 127.0.0.1:{pg.port}")
            config = _config(
                directory, ceph.endpoint, ceph.access_key, ceph.secret_key, pg.create_database("registry")
            )
            with step("two berth-registry replicas sharing the bucket and the database"):
                replicas.append(
                    start_berth_registry(directory / "replica-1", users={USER: PASSWORD}, config=config)
                )
                replicas.append(start_berth_registry(directory / "replica-2", config=config))
            for replica in replicas:
                print(f"   replica at {replica.url}")
            with load_balancer([r.port for r in replicas]) as lb:
                print(f"   haproxy at {lb.url} (round-robin, health checks every 200 ms)")
                _use(directory, lb.host, replicas)
                if keep:
                    print("-- running; Ctrl-C tears it all down", flush=True)
                    with contextlib.suppress(KeyboardInterrupt):
                        signal.pause()
            for replica in replicas:
                replica.stop()
    finally:
        for replica in replicas:
            replica.stop()
        if ceph is not None:
            ceph.stop()
        shutil.rmtree(directory, ignore_errors=True)
    print("-- torn down: every process stopped by PID, its directories removed")


def _use(directory: Path, balancer: str, replicas: list[RegistryProcess]) -> None:
    layout = directory / "image"
    digest = make_oci_layout(layout, "v1", files={"hello.txt": b"hello from berth-registry at scale\n"})
    creds = f"{USER}:{PASSWORD}"
    with step(f"skopeo push through the balancer to {balancer}/{USER}/hello:v1"):
        _skopeo("copy", "--dest-tls-verify=false", "--dest-creds", creds, f"oci:{layout}:v1",
                f"docker://{balancer}/{USER}/hello:v1")  # fmt: skip
    for replica in replicas:
        with step(f"skopeo pull from the replica at {replica.host}"):
            found = json.loads(_skopeo("inspect", "--tls-verify=false", "--creds", creds,
                                       f"docker://{replica.host}/{USER}/hello:v1"))["Digest"]  # fmt: skip
            if found != digest:
                raise RuntimeError(f"{replica.host} serves {found}, pushed {digest}")
            _skopeo("copy", "--src-tls-verify=false", "--src-creds", creds,
                    f"docker://{replica.host}/{USER}/hello:v1", f"dir:{directory / f'pulled-from-{replica.root.name}'}")  # fmt: skip
    with step("stop replica 1; pull through the balancer again"):
        replicas[0].stop()
        time.sleep(0.5)  # the balancer's health check takes it out of the pool
        _skopeo("copy", "--src-tls-verify=false", "--src-creds", creds,
                f"docker://{balancer}/{USER}/hello:v1", f"dir:{directory / 'after-stop'}")  # fmt: skip
    print(f"   {USER}/hello:v1 = {digest}, the same on every replica")


def main() -> None:
    parser = argparse.ArgumentParser(prog="demo-scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="leave it running until Ctrl-C, then tear down")
    try:
        run(parser.parse_args().keep)
    except (RuntimeError, OSError) as exc:
        raise SystemExit(f"demo-scale: {exc}") from None


if __name__ == "__main__":
    main()
