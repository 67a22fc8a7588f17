"""The build context's files on the daemon's side (unpacked by ``context_tar``): what COPY/ADD take
from them (or from another image's root, for ``COPY --from``), their digest for the cache, and the
copy into an image.

Sources are resolved inside the context, symlinks followed as if the context were ``/`` (a symlink
named as a source copies what it points to; one inside a copied directory stays a link). The
destination is resolved inside the image's root, as ``cp``.
"""

from __future__ import annotations

import errno
import glob
import hashlib
import os
import posixpath
import stat
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from berth.api import dockerignore
from berth.engine.containers import archive
from berth.errors import InvalidArgument, NotFound, NotSupported
from berth.runtime.linux.rootfs import secure_join
from berth.util.idshift import IdShift


@dataclass(frozen=True, slots=True)
class Source:
    path: Path  # on the host, inside the context, symlinks followed (scoped to the context)
    name: str  # as the Dockerfile named it (for messages and the cache)
    base: str = ""  # the file name it gets in a destination directory (a symlink's own name)
    match: str = ""  # the path it matched, relative to the context (``COPY --parents`` keeps it)

    @property
    def is_dir(self) -> bool:
        return self.path.is_dir() and not self.path.is_symlink()


def resolve_scoped(root: str, relative: str) -> str:
    """``relative`` inside ``root`` with every symlink followed as if ``root`` were ``/`` (absolute
    targets start again at ``root``, ``..`` stops there), as Docker resolves a COPY source: nothing
    outside ``root`` can be reached. The runtime's ``secure_join`` (mounts) does exactly this."""
    try:
        return secure_join(root, relative)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InvalidArgument(f"too many levels of symbolic links: {relative}") from None
        raise


def _has_linked_parent(root: str, relative: str) -> bool:
    parts = relative.split("/")[:-1]
    return any(os.path.islink(os.path.join(root, *parts[: n + 1])) for n in range(len(parts)))


def sources(context: Path, patterns: list[str], command: str) -> list[Source]:
    """The context entries ``patterns`` name (wildcards allowed), in order; an error for none.
    ``.`` is the whole context; a symlink given as a source is followed (inside the context), one
    inside a copied directory stays a link; wildcards, as Docker's walk, never go through a link."""
    root = str(context)
    found: list[Source] = []
    for pattern in patterns:
        if "://" in pattern or pattern.startswith("git@"):
            if command == "COPY":
                raise InvalidArgument("source can't be a URL for COPY")
            raise NotSupported(  # git and http(s) sources are fetched before (git.py, download.py)
                f"ADD of this URL is not supported: {pattern} (ADD takes http(s) URLs and git repositories)"
            )
        clean = posixpath.normpath("/" + pattern).lstrip("/")
        if clean and glob.has_magic(clean):
            matches = [
                os.path.relpath(m, root)
                for m in sorted(glob.glob(glob.escape(root) + "/" + clean))
                if not _has_linked_parent(root, os.path.relpath(m, root))
            ]
        else:
            matches = [clean]
        hits = [(m, resolve_scoped(root, m)) for m in matches]
        hits = [(m, path) for m, path in hits if os.path.lexists(path)]
        if not hits:
            raise NotFound(
                f"{command} failed: file not found in build context or excluded by .dockerignore: "
                f"stat {pattern}: file does not exist"
            )
        for match, path in hits:
            base = posixpath.basename(match) if match != "." else ""
            found.append(Source(Path(path), pattern, base, "" if match == "." else match))
    return found


def copy_plan(
    srcs: list[Source], dest: str, workdir: str, dest_is_dir: bool, command: str, parents: bool = False
) -> list[tuple[Path, str]]:
    """(host path, path in the image) pairs: a directory source's contents go into the destination;
    files go into it when it is a directory (ends with ``/``, exists as one, or there are several
    sources), else become it. ``parents`` (``COPY --parents``): each source keeps its path below
    the context (from a ``/./`` pivot on, when the pattern has one) inside the destination."""
    target = posixpath.normpath(posixpath.join("/", workdir or "/", dest))
    if parents:
        return [(src.path, posixpath.join(target, _kept_path(src))) for src in srcs]
    into = dest.endswith("/") or dest_is_dir or dest in (".", "./")
    if len(srcs) > 1 and not into:
        raise InvalidArgument(
            f"When using {command} with more than one source file, the destination must be a directory "
            "and end with a /"
        )
    plan: list[tuple[Path, str]] = []
    for src in srcs:
        if src.is_dir:
            plan.append((src.path, target))
        elif into:
            plan.append((src.path, posixpath.join(target, src.base or src.path.name)))
        else:
            plan.append((src.path, target))
    return plan


def _kept_path(src: Source) -> str:
    """``COPY --parents``: the part of the matched path a source keeps ("a/./b/c" keeps "b/c")."""
    match = src.match
    pivot = src.name.find("/./")
    if pivot >= 0:  # the pattern's directories before the pivot are dropped
        dropped = posixpath.normpath(src.name[:pivot]).strip("/").count("/") + 1
        match = "/".join(match.split("/")[dropped:])
    return match


@dataclass(frozen=True, slots=True)
class CopyFilter:
    """``COPY --chmod`` and ``--exclude``: what becomes of each entry a copy takes."""

    chmod: Callable[[int, bool], int] | None = None  # (mode, is a directory) → new permission bits
    exclude: dockerignore.Rules = field(default_factory=list)  # paths below each source, as .dockerignore

    def excluded(self, relative: str) -> bool:
        return bool(self.exclude) and bool(relative) and dockerignore.ignored(relative, self.exclude)


def write_tar(plan: list[tuple[Path, str]], out: BinaryIO, rules: CopyFilter | None = None) -> None:
    """A tar of the plan, entries named by their path in the image (relative to ``/``), contents of
    directories included; owners are set at extraction, modes by ``rules.chmod``, and what
    ``rules.exclude`` names (relative to each source) is left out."""
    rules = rules or CopyFilter()

    def add(tar: tarfile.TarFile, host: str, arcname: str) -> None:
        info = tar.gettarinfo(host, arcname=arcname)
        if rules.chmod is not None and not info.issym():
            info.mode = rules.chmod(info.mode & 0o7777, info.isdir())
        if info.isreg():
            with open(host, "rb") as f:
                tar.addfile(info, f)
        else:
            tar.addfile(info)

    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for host, image_path in plan:
            top = image_path.lstrip("/")
            if host.is_dir() and not host.is_symlink():
                for dirpath, dirnames, filenames in os.walk(host):
                    dirnames.sort()
                    relative = os.path.relpath(dirpath, host)
                    here = "" if relative == "." else relative
                    base = top if relative == "." else posixpath.join(top, relative)
                    skipped = bool(here) and rules.excluded(here)
                    if skipped and not _has_exceptions(rules):
                        dirnames[:] = []  # nothing below can come back
                        continue
                    if relative != "." and base and not skipped:
                        add(tar, dirpath, base)
                    elif base and rules.chmod is not None:
                        add(tar, dirpath, base)  # the copied directory itself takes the mode too
                    for name in sorted(filenames) + [
                        d for d in dirnames if os.path.islink(os.path.join(dirpath, d))
                    ]:
                        if rules.excluded(posixpath.join(here, name) if here else name):
                            continue
                        add(tar, os.path.join(dirpath, name), posixpath.join(base, name))
                    dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
            else:
                if not top:
                    raise InvalidArgument("cannot copy a file over the image's root directory")
                add(tar, str(host), top)


def _has_exceptions(rules: CopyFilter) -> bool:
    return any(negated for negated, _ in rules.exclude)


def is_archive(path: Path) -> bool:
    """Whether ADD should unpack this local file (a tar, possibly compressed)."""
    if not path.is_file() or path.is_symlink():
        return False
    try:
        with tarfile.open(path, mode="r:*") as tar:
            return tar.next() is not None
    except (tarfile.TarError, OSError, EOFError):
        return False


def content_digest(srcs: list[Source]) -> str:
    """A digest of what COPY/ADD would take (names, types, modes, link targets, contents), for the
    build cache: a step is reused only when these are the same."""
    digest = hashlib.sha256()
    for src in srcs:
        digest.update(f"{src.name}\0".encode())
        entries = [src.path]
        if src.is_dir:
            for dirpath, dirnames, filenames in os.walk(src.path):
                dirnames.sort()
                entries.extend(Path(dirpath, name) for name in sorted(filenames + dirnames))
        for path in entries:
            st = os.lstat(path)
            relative = os.path.relpath(path, src.path)
            digest.update(f"{relative}\0{st.st_mode:o}\0{st.st_uid}:{st.st_gid}\0".encode())
            if stat.S_ISLNK(st.st_mode):
                digest.update(os.readlink(path).encode("utf-8", "surrogateescape"))
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    while block := f.read(1 << 20):
                        digest.update(block)
    return "sha256:" + digest.hexdigest()


def copy_into(
    root_fd: int,
    context: Path,
    patterns: list[str],
    dest: str,
    workdir: str,
    chown: str,
    command: str,
    scratch: Path,
    downloaded: list[Source] | None = None,
    shift: IdShift | None = None,
    rules: CopyFilter | None = None,
    parents: bool = False,
) -> None:
    """COPY/ADD ``patterns`` from ``context`` (and ADD's ``downloaded`` files) to ``dest`` in the root
    ``root_fd`` (resolved in it, as ``cp`` does); ADD unpacks local tarballs, never downloaded ones.
    ``scratch``: where the temporary tar goes; ``shift``: a remapped build container's ids."""
    srcs = (sources(context, patterns, command) if patterns else []) + list(downloaded or [])
    if rules is not None and rules.exclude:  # a file named as a source is excluded by its own name
        srcs = [s for s in srcs if s.is_dir or not rules.excluded(s.match or s.base)]
    owner = archive.container_user(root_fd, chown) if chown else (0, 0)
    target = os.path.normpath(os.path.join("/", workdir, dest))
    tarballs = [s for s in srcs if command == "ADD" and s not in (downloaded or []) and is_archive(s.path)]
    plain = [s for s in srcs if s not in tarballs]
    if plain:
        into = _is_dir_in(root_fd, target) or bool(tarballs)
        plan = copy_plan(plain, dest, workdir, into, command, parents)
        with tempfile.TemporaryFile(dir=scratch) as tar:
            write_tar(plan, tar, rules)
            tar.seek(0)
            archive.extract_archive(
                root_fd, "/", tar, no_overwrite_dir_non_dir=False, owner=owner, shift=shift
            )
    for tarball in tarballs:
        archive.make_dirs(root_fd, target)
        with open(tarball.path, "rb") as stream:
            archive.extract_archive(
                root_fd, target, stream, no_overwrite_dir_non_dir=False, owner=None, shift=shift
            )


def _is_dir_in(root_fd: int, path: str) -> bool:
    try:
        fd = archive.open_in_root(root_fd, path)
    except OSError:
        return False
    os.close(fd)
    return True
