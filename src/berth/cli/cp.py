"""``cp``: copy files between a container and the local filesystem (tar over the archive API).

The ``X-Docker-Container-Path-Stat`` header carries a Go FileMode (see ``berth.api.filemode``).
"""

from __future__ import annotations

import os
import sys

from berth.cli.command import CLIError, Context, new_parser
from berth.client.api import APINotFound
from berth.client.http import quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _stat_header(value: str) -> dict[str, Any]:
    import base64
    import json

    try:
        data = json.loads(base64.b64decode(value + "=" * (-len(value) % 4)))
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _split_container_path(arg: str) -> tuple[str, str] | None:
    if arg.startswith((".", "/")) or ":" not in arg:
        return None
    container, _, path = arg.partition(":")
    return container, path


def cp(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n       berth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
        "Copy files/folders between a container and the local filesystem",
        [
            "berth cp web:/etc/hostname .",
            "berth cp ./conf web:/etc/app/",
            "berth cp web:/var/log - > logs.tar",
        ],
        aliases=["container cp", "cp"],
    )
    p.add_argument("-a", "--archive", action="store_true", help="Archive mode (copy all uid/gid information)")
    p.add_argument("-L", "--follow-link", action="store_true", help="Always follow symbol link in SRC_PATH")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress progress output during copy")
    p.add_argument("src")
    p.add_argument("dst")
    ns = p.parse_args(argv)
    src, dst = _split_container_path(ns.src), _split_container_path(ns.dst)
    if src and dst:
        raise CLIError("copying between containers is not supported")
    if not src and not dst:
        raise CLIError("must specify at least one container source")
    quiet = ns.quiet or not sys.stderr.isatty()
    if src:
        size = _copy_from(ctx, src[0], src[1], ns.dst)
        if not quiet and ns.dst != "-":
            from berth.cli.format import human_size

            sys.stderr.write(f"Successfully copied {human_size(size, 3)} to {ns.dst}\n")
    else:
        if dst is None:
            raise CLIError("must specify at least one container source")
        size = _copy_to(ctx, ns.src, dst[0], dst[1], archive=ns.archive, follow=ns.follow_link)
        if not quiet:
            from berth.cli.format import human_size

            sys.stderr.write(f"Successfully copied {human_size(size, 3)} to {ns.dst}\n")
    return 0


def _copy_from(ctx: Context, container: str, path: str, dest: str) -> int:
    import tarfile

    resp = ctx.client.request("GET", f"/containers/{quote(container)}/archive", {"path": path})
    if dest == "-":
        from berth.cli.archive import write_stream

        write_stream(resp.iter_chunks(), "")
        return 0
    stat = _stat_header(resp.headers.get("x-docker-container-path-stat", ""))
    src_base = stat.get("name") or os.path.basename(path.rstrip("/")) or "/"
    dest_is_dir = os.path.isdir(dest)
    if dest.endswith("/") and not dest_is_dir:
        raise CLIError(f'destination directory "{dest}" must exist')
    target_dir = dest if dest_is_dir else (os.path.dirname(os.path.abspath(dest)) or ".")
    rename_to = None if dest_is_dir else os.path.basename(os.path.abspath(dest))
    reader = _ChunkReader(resp.iter_chunks())
    total = 0
    with tarfile.open(fileobj=reader, mode="r|*") as tar:  # type: ignore[call-overload]  # file-like
        for member in tar:
            name = member.name
            if rename_to is not None:
                first, sep, rest = name.partition("/")
                if first == src_base:
                    name = rename_to + (sep + rest if rest else "")
                    member.name = name
            total += member.size
            try:
                tar.extract(member, target_dir, filter="tar")
            except tarfile.FilterError as exc:
                raise CLIError(f"refusing to extract {member.name!r}: {exc}") from exc
    return total


class _ChunkReader:
    """A read()-able view of an iterator of byte chunks (for tarfile's stream mode)."""

    def __init__(self, chunks: Any) -> None:
        self._it = iter(chunks)
        self._buf = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buf) < size:
            try:
                self._buf += next(self._it)
            except StopIteration:
                break
        if size < 0:
            data, self._buf = self._buf, b""
        else:
            data, self._buf = self._buf[:size], self._buf[size:]
        return data


def _copy_to(ctx: Context, src: str, container: str, path: str, *, archive: bool, follow: bool) -> int:
    import io
    import tarfile

    client = ctx.client
    base = f"/containers/{quote(container)}/archive"
    if src == "-":
        client.request(
            "PUT",
            base,
            {"path": path, "noOverwriteDirNonDir": "true"},
            body=sys.stdin.buffer,
            headers={"Content-Type": "application/x-tar"},
        ).read()
        return 0
    if not os.path.lexists(src):
        raise CLIError(f"lstat {os.path.abspath(src)}: no such file or directory")
    dest_dir, arcname = path, os.path.basename(os.path.abspath(src))
    try:
        resp = client.request("HEAD", base, {"path": path})
        resp.read()
        stat = _stat_header(resp.headers.get("x-docker-container-path-stat", ""))
        from berth.api.filemode import is_dir

        if not is_dir(int(stat.get("mode") or 0)):
            if os.path.isdir(src):
                raise CLIError("cannot copy a directory to a file")
            dest_dir, arcname = os.path.dirname(path.rstrip("/")) or "/", os.path.basename(path.rstrip("/"))
    except APINotFound as exc:
        if path.endswith("/"):
            raise CLIError(f"Error response from daemon: {exc}", prefix="") from exc
        dest_dir, arcname = os.path.dirname(path.rstrip("/")) or "/", os.path.basename(path.rstrip("/"))
    buf = io.BytesIO()
    total = 0
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT, dereference=follow) as tar:

        def reset(info: tarfile.TarInfo) -> tarfile.TarInfo:
            nonlocal total
            total += info.size
            if not archive:
                info.uid = info.gid = 0
                info.uname = info.gname = ""
            return info

        tar.add(src, arcname=arcname, filter=reset)
    client.request(
        "PUT",
        base,
        {"path": dest_dir, "noOverwriteDirNonDir": "true"},
        body=buf.getvalue(),
        headers={"Content-Type": "application/x-tar"},
    ).read()
    return total
