"""The build context on the client's side: the paths ``.dockerignore`` leaves (BuildKit's
``<Dockerfile>.dockerignore`` beside a named Dockerfile wins), tarred as the docker CLI does (owners
0, PAX) and sent as it is written: GNU tar's output goes straight into the request (chunked), so the
upload runs alongside the tarring instead of after it, and the Dockerfile comes first, where the
daemon looks for it. Without GNU tar, Python's ``tarfile`` writes it into a file first.
"""

from __future__ import annotations

import fcntl
import os

from berth.api import dockerignore
from berth.cli.command import CLIError

TYPE_CHECKING = False  # typing's names for the checker only: importing typing costs the CLI ~5 ms
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import IO

_PIECE = 1 << 20
_F_SETPIPE_SZ = 1031  # Linux's fcntl: a pipe's capacity
_GNU_TAR = ["--create", "--null", "--verbatim-files-from", "--owner=0", "--group=0", "--numeric-owner",
            "--format=posix", "--pax-option=delete=atime,delete=ctime", "--sort=name"]  # fmt: skip


def ignore_file_for(root: str, dockerfile: str) -> str:
    """BuildKit's choice: ``<Dockerfile>.dockerignore`` beside a Dockerfile, when there is one, is
    used instead of the context's ``.dockerignore`` (paths relative to the context)."""
    specific = dockerfile + ".dockerignore"
    return specific if os.path.isfile(os.path.join(root, specific)) else ".dockerignore"


class StreamedContext:
    """The context's tar as GNU tar writes it, in pieces for a chunked request body; ``sent`` counts
    its bytes. A tar that fails raises at the end of the pieces: the request is cut short (no last
    chunk), so the daemon never builds from part of a context. tar is started with ``posix_spawn``
    and its lists are unnamed files: ``subprocess`` and ``tempfile`` would add ~15 ms to every
    build's start (cached builds aim at 100 ms)."""

    def __init__(self, root: str, dockerfile: str, tar_binary: str) -> None:
        self.sent = 0
        self._root = root
        self._argv = [tar_binary, *_GNU_TAR]
        names = _ignored_walk(root, dockerfile)
        if names is None:  # nothing ignored: tar walks the context itself, the Dockerfile first
            self._names = _top_level(root, dockerfile)
        else:
            self._argv.append("--no-recursion")
            self._names = names

    def __iter__(self) -> Iterator[bytes]:
        with unnamed_file() as names, unnamed_file() as errors:
            names.write(b"\0".join(os.fsencode(n) for n in self._names))
            names.flush()
            os.lseek(names.fileno(), 0, os.SEEK_SET)
            argv = [*self._argv, "-C", self._root, "--files-from=-"]
            out, into = os.pipe2(os.O_CLOEXEC)
            try:  # noqa: SIM105  (contextlib is one import more at start-up)
                fcntl.fcntl(out, _F_SETPIPE_SZ, _PIECE)  # tar runs ahead of the upload by 1 MiB, not 64 KiB
            except OSError:
                pass
            actions = [(os.POSIX_SPAWN_DUP2, names.fileno(), 0), (os.POSIX_SPAWN_DUP2, into, 1),
                       (os.POSIX_SPAWN_DUP2, errors.fileno(), 2)]  # fmt: skip
            try:
                pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
            finally:
                os.close(into)
            try:
                while piece := os.read(out, _PIECE):
                    self.sent += len(piece)
                    yield piece
            finally:
                os.close(out)  # a request given up early: tar ends on EPIPE
                status = os.waitpid(pid, 0)[1]
            if os.waitstatus_to_exitcode(status) != 0:
                errors.seek(0)
                said = errors.read().decode(errors="replace").strip().splitlines()
                raise CLIError(f"unable to prepare context: {said[0] if said else 'tar failed'}")


def unnamed_file() -> IO[bytes]:
    """A file without a name in $TMPDIR (gone when closed), as ``tempfile.TemporaryFile`` makes, for
    less than a tenth of its import time."""
    directory = os.environ.get("TMPDIR") or "/tmp"
    try:
        return open(os.open(directory, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600), "w+b")
    except OSError:  # a filesystem without O_TMPFILE
        import tempfile

        return tempfile.TemporaryFile()


def context_body(root: str, dockerfile: str) -> StreamedContext | None:
    """The context streamed by GNU tar, or None without it (then ``write_context``)."""
    tar_binary = _which("tar")
    return StreamedContext(root, dockerfile, tar_binary) if tar_binary is not None else None


def _which(program: str) -> str | None:
    for directory in os.environ.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(directory or ".", program)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def write_context(root: str, dockerfile: str, out: IO[bytes]) -> int:
    """Tar ``root`` into ``out`` with Python's tarfile, minus .dockerignore'd paths; its size."""
    import tarfile

    names = _ignored_walk(root, dockerfile)
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel in names if names is not None else _all_names(root):
            full = os.path.join(root, rel)
            info = tar.gettarinfo(full, arcname=rel)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if info.isfile():
                with open(full, "rb") as fh:
                    tar.addfile(info, fh)
            else:
                tar.addfile(info)
    return out.tell()


def _top_level(root: str, dockerfile: str) -> list[str]:
    """The context's top-level names, sorted, a top-level Dockerfile moved first."""
    names = sorted(os.listdir(root))
    if dockerfile in names:
        names.remove(dockerfile)
        names.insert(0, dockerfile)
    return names


def _all_names(root: str) -> list[str]:
    return [name for name, _ in _walk(root)]


def _walk(root: str, relative: str = "") -> Iterator[tuple[str, os.DirEntry[str]]]:
    """Every path below ``root`` (relative), sorted, directories before what they hold."""
    with os.scandir(os.path.join(root, relative) if relative else root) as entries:
        found = sorted(entries, key=lambda e: e.name)
    for entry in found:
        rel = f"{relative}/{entry.name}" if relative else entry.name
        yield rel, entry
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(root, rel)


def _ignored_walk(root: str, dockerfile: str) -> list[str] | None:
    """The context's paths to send when ``.dockerignore`` leaves some out (directories before what
    they hold); None when there are no patterns (everything goes)."""
    ignore_file = ignore_file_for(root, dockerfile)
    try:
        with open(os.path.join(root, ignore_file), encoding="utf-8") as fh:
            rules = dockerignore.read_patterns(fh.read())
    except FileNotFoundError:
        return None
    if not rules:
        return None
    always = {dockerfile, ".dockerignore", ignore_file}
    exceptions = any(negated for negated, _ in rules)
    names: list[str] = []

    def visit(relative: str) -> None:
        with os.scandir(os.path.join(root, relative) if relative else root) as entries:
            found = sorted(entries, key=lambda e: e.name)
        for entry in found:
            rel = f"{relative}/{entry.name}" if relative else entry.name
            is_dir = entry.is_dir(follow_symlinks=False)
            if rel not in always and dockerignore.ignored(rel, rules):
                if is_dir and exceptions:
                    visit(rel)  # an exception below may bring part of it back
                continue
            names.append(rel)
            if is_dir:
                visit(rel)

    visit("")
    return names
