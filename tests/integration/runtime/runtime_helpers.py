"""Fixture builders for runtime integration tests: a busybox rootfs and Docker-like bundles."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from berth.oci.mount import Mount
from berth.runtime import LinuxRuntime
from berth.runtime.spec import default_spec
from berth.runtime.types import IOConfig

BUSYBOX = shutil.which("busybox") or "/usr/bin/busybox"


def make_busybox_rootfs(directory: Path) -> Path:
    """DIR/bin/busybox (static) + applet symlinks, /etc/passwd and /etc/group with root and nobody."""
    (directory / "bin").mkdir(parents=True)
    shutil.copy2(BUSYBOX, directory / "bin" / "busybox")
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            os.symlink("busybox", directory / "bin" / applet)
    for name in ("etc", "tmp", "proc", "sys", "dev", "root", "home/app", "usr/bin", "sbin"):
        (directory / name).mkdir(parents=True, exist_ok=True)
    (directory / "tmp").chmod(0o1777)
    (directory / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\n"
        "app:x:1000:1000:app:/home/app:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    )
    (directory / "etc" / "group").write_text(
        "root:x:0:\nwheel:x:10:app\napp:x:1000:\naudio:x:29:app,root\nnogroup:x:65534:\n"
    )
    return directory


def write_bundle(bundle: Path, args: list[str], **kwargs: object) -> dict[str, object]:
    """bundle/config.json from ``default_spec`` (+ overrides applied by the caller), bundle/rootfs dir."""
    bundle.mkdir(parents=True, exist_ok=True)
    (bundle / "rootfs").mkdir(exist_ok=True)
    spec = default_spec(args, **kwargs)  # type: ignore[arg-type]  # kwargs forwarded as-is in tests
    save(bundle, spec)
    return spec


def save(bundle: Path, spec: dict[str, object]) -> None:
    (bundle / "config.json").write_text(json.dumps(spec))


def demux(data: bytes) -> tuple[bytes, bytes]:
    """Split Docker stdcopy frames into (stdout, stderr)."""
    out, err = b"", b""
    while data:
        stream, size = data[0], int.from_bytes(data[4:8], "big")
        payload, data = data[8 : 8 + size], data[8 + size :]
        if stream == 1:
            out += payload
        else:
            err += payload
    return out, err


class Maker:
    """Builds bundles with an overlay rootfs over the shared busybox tree and creates containers."""

    def __init__(self, tmp: Path, lower: Path, rt: LinuxRuntime, cgroup_parent: str) -> None:
        self.tmp, self.lower, self.rt, self.cgroup_parent = tmp, lower, rt, cgroup_parent
        self.count = 0

    def bundle(self, args: list[str], **kwargs: object) -> tuple[str, Path, dict[str, object], list[Mount]]:
        self.count += 1
        container_id = f"c{self.count}"
        base = self.tmp / container_id
        spec = write_bundle(
            base / "bundle",
            args,
            container_id=container_id,
            cgroups_path=f"{self.cgroup_parent}/{container_id}",
            **kwargs,
        )
        (base / "upper").mkdir()
        (base / "work").mkdir()
        options = (f"lowerdir={self.lower}", f"upperdir={base / 'upper'}", f"workdir={base / 'work'}")
        return container_id, base / "bundle", spec, [Mount("overlay", "overlay", options)]

    def create(
        self,
        args: list[str],
        *,
        edit: Callable[[dict[str, object]], None] | None = None,
        io: IOConfig | None = None,
        **kwargs: object,
    ) -> str:
        container_id, bundle, spec, rootfs = self.bundle(args, **kwargs)
        if edit is not None:
            edit(spec)
            save(bundle, spec)
        log = self.tmp / container_id / "json.log"
        self.rt.create(container_id, bundle, rootfs=rootfs, io=io or IOConfig(log_path=log))
        return container_id

    def log(self, container_id: str) -> Path:
        return self.tmp / container_id / "json.log"


def errno_in_child(body: Callable[[], None]) -> int:
    """Run ``body`` in a forked child (so that what it changes — a seccomp filter, a cgroup — stays
    there); the errno of the OSError it raised, 0 if none."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            body()
        except OSError as exc:
            code = exc.errno or 255
        os.write(writer, str(code).encode())
        os._exit(0)
    os.close(writer)
    os.waitpid(pid, 0)
    answer = os.read(reader, 16)
    os.close(reader)
    return int(answer or b"-1")
