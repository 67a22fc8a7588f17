"""``berth bootstrap busybox|debian``: make a base image client-side, with no registry.

busybox: a rootfs tar built from the host's statically linked ``/usr/bin/busybox`` (Debian's
busybox-static) with one symlink per applet (``busybox --list-full``), ``/etc/passwd`` and
``/etc/group`` (root, nobody), ``/tmp`` (1777) and ``/root``, imported with ``CMD ["sh"]``.
debian: ``debootstrap --variant=minbase SUITE DIR MIRROR`` (mirror from the host's apt sources) into a
temporary directory, tarred and imported with ``CMD ["bash"]``.
Both import through ``POST /images/create?fromSrc=-&repo=…&tag=…``; progress goes to stderr and the
new image ID to stdout.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import tempfile
import time

from berth.cli.command import CLIError, Context, new_parser

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any

BUSYBOX = "/usr/bin/busybox"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
_PT_INTERP = 3

PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = "root:x:0:\nnobody:x:65534:\n"


def is_static_elf(path: str) -> bool:
    """True if ``path`` is an ELF executable without a program interpreter (statically linked)."""
    import struct

    with open(path, "rb") as fh:
        header = fh.read(64)
        if header[:4] != b"\x7fELF":
            return False
        is64 = header[4] == 2
        endian = "<" if header[5] == 1 else ">"
        if is64:
            phoff = struct.unpack_from(endian + "Q", header, 0x20)[0]
            phentsize, phnum = struct.unpack_from(endian + "HH", header, 0x36)
        else:
            phoff = struct.unpack_from(endian + "I", header, 0x1C)[0]
            phentsize, phnum = struct.unpack_from(endian + "HH", header, 0x2A)
        for i in range(phnum):
            fh.seek(phoff + i * phentsize)
            (p_type,) = struct.unpack(endian + "I", fh.read(4))
            if p_type == _PT_INTERP:
                return False
    return True


def busybox_applets(binary: str = BUSYBOX) -> list[str]:
    """Applet paths (``bin/sh``, ``usr/bin/awk``…) from ``busybox --list-full``."""
    try:
        out = subprocess.run([binary, "--list-full"], capture_output=True, check=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise CLIError(f"cannot list busybox applets: {exc}") from exc
    return sorted({line.strip().lstrip("/") for line in out.splitlines() if line.strip()})


def build_busybox_rootfs(out: IO[bytes], binary: str = BUSYBOX) -> None:
    """Write the busybox rootfs tar to ``out``."""
    if not os.path.exists(binary):
        raise CLIError(
            f"{binary} not found: install the busybox-static package (apt-get install busybox-static)"
        )
    if not is_static_elf(binary):
        raise CLIError(f"{binary} is not statically linked: install the busybox-static package")
    now = int(time.time())
    applets = busybox_applets(binary)
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def add_dir(name: str, mode: int = 0o755) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, now
            tar.addfile(info)

        def add_file(name: str, data: bytes, mode: int = 0o644) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, now
            tar.addfile(info, io.BytesIO(data))

        dirs = {
            "bin",
            "sbin",
            "usr",
            "usr/bin",
            "usr/sbin",
            "etc",
            "dev",
            "proc",
            "sys",
            "var",
            "home",
            "var/spool",
        }
        for applet in applets:
            parent = os.path.dirname(applet)
            while parent:
                dirs.add(parent)
                parent = os.path.dirname(parent)
        for d in sorted(dirs):
            add_dir(d)
        add_dir("tmp", 0o1777)
        add_dir("root", 0o700)
        with open(binary, "rb") as fh:
            data = fh.read()
        add_file("bin/busybox", data, 0o755)
        add_file("etc/passwd", PASSWD.encode())
        add_file("etc/group", GROUP.encode())
        for applet in applets:
            if applet == "bin/busybox":
                continue
            info = tarfile.TarInfo(applet)
            info.type, info.linkname, info.mode, info.mtime = tarfile.SYMTYPE, "/bin/busybox", 0o777, now
            tar.addfile(info)


def _split_tag(tag: str, default: str) -> tuple[str, str]:
    ref = tag or default
    slash, colon = ref.rfind("/"), ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :]
    return ref, "latest"


def import_rootfs(ctx: Context, body: Any, ref: str, cmd: list[str]) -> str:
    """Import a rootfs tar; progress to stderr; returns the image ID from the stream."""
    import json

    repo, tag = _split_tag(ref, ref)
    params = {"fromSrc": "-", "repo": repo, "tag": tag, "changes": [f"CMD {json.dumps(cmd)}"]}
    resp = ctx.client.request(
        "POST", "/images/create", params, body=body, headers={"Content-Type": "application/x-tar"}
    )
    image_id = ""
    for msg in resp.iter_json():
        if not isinstance(msg, dict):
            continue
        if msg.get("error") or msg.get("errorDetail"):
            raise CLIError(str(msg.get("error") or (msg.get("errorDetail") or {}).get("message")), prefix="")
        status = str(msg.get("status") or "")
        if status.startswith("sha256:"):
            image_id = status.strip()
        elif status or msg.get("stream"):
            sys.stderr.write((status or str(msg.get("stream"))).rstrip("\n") + "\n")
    if not image_id:
        info = ctx.client.inspect_image(f"{repo}:{tag}")
        image_id = str(info.get("Id", ""))
    return image_id


def apt_mirror(root: str = "/") -> str:
    """The Debian mirror the host's apt uses (first ``deb`` line or ``URIs:`` field), else the default."""
    sources = os.path.join(root, "etc/apt/sources.list")
    try:
        with open(sources, encoding="utf-8") as fh:
            for line in fh:
                parts = line.split("#", 1)[0].split()
                if len(parts) >= 2 and parts[0] == "deb":
                    uri = next((p for p in parts[1:] if not p.startswith("[")), "")
                    if uri.startswith(("http://", "https://")) and "security" not in uri:
                        return uri.rstrip("/")
    except OSError:
        pass  # no classic sources.list: look at the deb822 files
    directory = os.path.join(root, "etc/apt/sources.list.d")
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        names = []
    for name in names:
        if not name.endswith(".sources"):
            continue
        try:
            with open(os.path.join(directory, name), encoding="utf-8") as fh:
                for line in fh:
                    key, _, value = line.partition(":")
                    if key.strip().lower() == "uris":
                        for uri in value.split():
                            if uri.startswith(("http://", "https://")) and "security" not in uri:
                                return uri.rstrip("/")
        except OSError:
            continue
    return DEFAULT_MIRROR


def bootstrap(ctx: Context, argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        sys.stdout.write(
            "Usage:  berth bootstrap busybox|debian [OPTIONS]\n\n"
            "Make a base image without a registry\n\n"
            "Commands:\n  busybox     From the host's static busybox (busybox-static)\n"
            "  debian      With debootstrap --variant=minbase\n\n"
            "Examples:\n  $ berth bootstrap busybox\n"
            "  $ berth bootstrap debian --suite bookworm -t debian:bookworm\n"
        )
        return 0
    kind, rest = argv[0], argv[1:]
    if kind == "busybox":
        p = new_parser(
            "bootstrap busybox",
            "[OPTIONS]",
            "Make a busybox base image from the host's static busybox",
            ["berth bootstrap busybox", "berth bootstrap busybox -t busybox:1"],
        )
        p.add_argument(
            "-t",
            "--tag",
            default="busybox:latest",
            metavar="string",
            help='Image name (default "busybox:latest")',
        )
        p.add_argument("--busybox", default=BUSYBOX, metavar="path", help="The busybox binary to use")
        ns = p.parse_args(rest)
        with tempfile.TemporaryFile() as tmp:
            build_busybox_rootfs(tmp, ns.busybox)
            tmp.seek(0)
            sys.stderr.write(f"Importing busybox rootfs as {ns.tag}\n")
            image_id = import_rootfs(ctx, tmp, ns.tag, ["sh"])
        sys.stdout.write(image_id + "\n")
        return 0
    if kind == "debian":
        p = new_parser(
            "bootstrap debian",
            "[OPTIONS]",
            "Make a Debian base image with debootstrap (minbase)",
            [
                "berth bootstrap debian",
                "berth bootstrap debian --suite bookworm --mirror http://deb.debian.org/debian",
            ],
        )
        p.add_argument(
            "--suite", default="bookworm", metavar="string", help='Debian suite (default "bookworm")'
        )
        p.add_argument(
            "-t", "--tag", default="", metavar="string", help='Image name (default "debian:SUITE")'
        )
        p.add_argument(
            "--mirror", default="", metavar="URL", help="Debian mirror (default: the one apt uses)"
        )
        ns = p.parse_args(rest)
        return _debian(ctx, ns.suite, ns.tag or f"debian:{ns.suite}", ns.mirror or apt_mirror())
    raise CLIError(f"unknown bootstrap kind {kind!r}: use busybox or debian")


def _debian(ctx: Context, suite: str, tag: str, mirror: str) -> int:
    import shutil

    if shutil.which("debootstrap") is None:
        raise CLIError("debootstrap not found: install it (apt-get install debootstrap)")
    workdir = tempfile.mkdtemp(prefix="berth-debootstrap-")
    target = os.path.join(workdir, "rootfs")
    try:
        sys.stderr.write(f"Running debootstrap --variant=minbase {suite} {target} {mirror}\n")
        proc = subprocess.run(
            ["debootstrap", "--variant=minbase", suite, target, mirror], stdout=sys.stderr, stderr=sys.stderr
        )
        if proc.returncode != 0:
            raise CLIError(f"debootstrap failed with exit status {proc.returncode}")
        for sub in ("var/cache/apt/archives", "var/lib/apt/lists"):
            path = os.path.join(target, sub)
            for name in os.listdir(path) if os.path.isdir(path) else []:
                full = os.path.join(path, name)
                if os.path.isfile(full) and not os.path.islink(full):
                    os.unlink(full)
        tar = subprocess.Popen(
            # /dev stays an empty directory: the runtime gives each container its own devices,
            # and image layers may not carry device files.
            ["tar", "-C", target, "--numeric-owner", "--xattrs", "--exclude=./dev/*", "-cf", "-", "."],
            stdout=subprocess.PIPE,
        )
        if tar.stdout is None:
            raise CLIError("tar produced no output")
        try:
            sys.stderr.write(f"Importing rootfs as {tag}\n")
            image_id = import_rootfs(ctx, tar.stdout, tag, ["bash"])
        finally:
            tar.stdout.close()
            if tar.wait() != 0:
                raise CLIError(f"tar failed with exit status {tar.returncode}")
        sys.stdout.write(image_id + "\n")
        return 0
    finally:
        _remove_tree(workdir)


def _remove_tree(path: str) -> None:
    """Remove debootstrap's directory, unmounting first anything (proc, sys) left mounted under it:
    rmtree would otherwise descend into a mounted /proc or /sys."""
    import shutil

    prefix = os.path.realpath(path) + "/"
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as fh:
            mounts = [line.split()[4] for line in fh]
    except OSError:
        mounts = []
    left = sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True)
    for mount_point in left:
        subprocess.run(["umount", "-l", mount_point], check=False, capture_output=True)
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        if any(line.split()[4].startswith(prefix) for line in fh):
            sys.stderr.write(f"warning: mounts remain under {path}; not removing it\n")
            return
    shutil.rmtree(path, ignore_errors=True)
