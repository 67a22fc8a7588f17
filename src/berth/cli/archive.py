"""Image archives: ``import`` (rootfs tar -> image), ``load`` and ``save`` (docker save format)."""

from __future__ import annotations

import contextlib
import os
import stat
import sys

from berth.cli.command import CLIError, Context, new_parser

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def import_(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
        "Import the contents from a tarball to create a filesystem image",
        [
            "berth import rootfs.tar myimage:1",
            "cat rootfs.tar | berth import -c 'CMD [\"sh\"]' - base:latest",
        ],
        aliases=["image import", "import"],
    )
    p.add_argument(
        "-c",
        "--change",
        action="append",
        default=[],
        metavar="list",
        help="Apply Dockerfile instruction to the created image",
    )
    p.add_argument(
        "-m", "--message", default="", metavar="string", help="Set commit message for imported image"
    )
    p.add_argument(
        "--platform", default="", metavar="string", help="Set platform if server is multi-platform capable"
    )
    p.add_argument("source")
    p.add_argument("repository", nargs="?", default="")
    ns = p.parse_args(argv)
    from berth.cli import progress

    params: dict[str, Any] = {}
    body: Any = None
    if ns.source == "-":
        params["fromSrc"] = "-"
        body = sys.stdin.buffer
    elif "://" in ns.source:
        params["fromSrc"] = ns.source
    else:
        params["fromSrc"] = "-"
        try:
            body = open(ns.source, "rb")  # noqa: SIM115 - closed in the finally below
        except OSError as exc:
            raise CLIError(f"open {ns.source}: {exc.strerror.lower() if exc.strerror else exc}") from exc
    if ns.repository:
        params["repo"] = ns.repository
    if ns.message:
        params["message"] = ns.message
    if ns.platform:
        params["platform"] = ns.platform
    if ns.change:
        params["changes"] = ns.change
    try:
        resp = ctx.client.request(
            "POST",
            "/images/create",
            params,
            body=body,
            headers={"Content-Type": "application/x-tar"} if body is not None else None,
        )
        progress.display(resp.iter_json(), sys.stdout, terminal=False)
    finally:
        if body is not None and body is not sys.stdin.buffer:
            body.close()
    return 0


def load(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS]",
        "Load an image from a tar archive or STDIN",
        ["berth load -i busybox.tar", "berth load < busybox.tar"],
        aliases=["image load", "load"],
    )
    p.add_argument(
        "-i", "--input", default="", metavar="string", help="Read from tar archive file, instead of STDIN"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress the load output")
    ns = p.parse_args(argv)
    from berth.cli import progress

    if ns.input:
        try:
            body: Any = open(ns.input, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise CLIError(f"open {ns.input}: {exc.strerror.lower() if exc.strerror else exc}") from exc
    else:
        if os.isatty(0):
            raise CLIError("requested load from stdin, but stdin is empty")
        body = sys.stdin.buffer
    quiet = ns.quiet or not sys.stdout.isatty()
    try:
        resp = ctx.client.request(
            "POST",
            "/images/load",
            {"quiet": "1" if quiet else "0"},
            body=body,
            headers={"Content-Type": "application/x-tar"},
        )
        progress.display(resp.iter_json(), sys.stdout)
    finally:
        if body is not sys.stdin.buffer:
            body.close()
    return 0


def save(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS] IMAGE [IMAGE...]",
        "Save one or more images to a tar archive (streamed to STDOUT by default)",
        ["berth save -o busybox.tar busybox", "berth save busybox > busybox.tar"],
        aliases=["image save", "save"],
    )
    p.add_argument("-o", "--output", default="", metavar="string", help="Write to a file, instead of STDOUT")
    p.add_argument("--platform", default="", metavar="string", help="Save only the given platform variant")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    ns = p.parse_args(argv)
    if not ns.output and sys.stdout.isatty():
        raise CLIError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    check_output(ns.output, "failed to save image")
    resp = ctx.client.request("GET", "/images/get", {"names": ns.images})
    write_stream(resp.iter_chunks(), ns.output)
    return 0


_NOT_WRITABLE = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device file"),
    (stat.S_ISBLK, "a block device file"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
)


def check_output(output: str, failed: str) -> None:
    """Refuse ``-o`` paths the atomic write would break, in Docker's words (``failed``: "failed to
    save image"): the rename would put a regular file in place of ``/dev/null`` or a pipe."""
    if not output:
        return
    directory = os.path.dirname(output) or "."
    try:
        os.stat(directory)
    except OSError as exc:
        raise CLIError(
            f"{failed}: invalid output path: stat {directory}: {(exc.strerror or '').lower()}"
        ) from exc
    try:
        mode = os.stat(output).st_mode
    except FileNotFoundError:
        return
    for test, kind in _NOT_WRITABLE:
        if test(mode):
            raise CLIError(f"{failed}: cannot write to {kind}")


def write_stream(chunks: Any, output: str) -> None:
    """Write chunks to ``output`` atomically (temp file + rename), or to stdout when empty."""
    if not output:
        sys.stdout.flush()
        for chunk in chunks:
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        return
    tmp = f"{output}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
        os.replace(tmp, output)
    except OSError as exc:
        with contextlib.suppress(OSError):  # nothing was written
            os.unlink(tmp)
        raise CLIError(f"failed to save to {output}: {exc}") from exc
