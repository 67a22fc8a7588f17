"""The mounts of one ``RUN --mount=…`` step, made before its container and undone after its commit.

    bind    the context's (or a stage's, an image's) path, read-only; ``rw`` binds a copy, so that
            writes are discarded as BuildKit discards them
    cache   a directory of the build cache (``cache_mounts.py``), kept across builds
    tmpfs   a tmpfs of ``size``
    secret  a file written for this step only (mode/uid/gid as asked), bound read-only; or only an
            environment variable of this step (``env=``); never in a layer, the history or the config
    ssh     the client's agent socket (``berth build --ssh``), bound; ``SSH_AUTH_SOCK`` names it

The runtime makes a mount point where a target did not exist; those it made are removed from the
step's layer before the commit (``scrub``), so mounts leave no trace in the image.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import stat
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol

from berth.engine.builder import context as build_context
from berth.engine.builder.run_mounts import RunMount
from berth.engine.containers import archive
from berth.errors import InvalidArgument, NotFound, NotSupported


class CacheStore(Protocol):
    def acquire(
        self,
        cache_id: str,
        *,
        sharing: str,
        mode: int,
        uid: int,
        gid: int,
        description: str,
        base: str,
        seed: Callable[[Path], None] | None,
    ) -> AbstractAsyncContextManager[Path]: ...


RootOf = Callable[[str], Awaitable[Path]]  # a stage's or an image's root, mounted for the build


class StepMounts:
    def __init__(
        self,
        mounts: list[RunMount],
        *,
        context: Path,
        scratch: Path,
        root_of: RootOf,
        secrets: Mapping[str, bytes],
        ssh: Mapping[str, str],
        caches: CacheStore | None,
        description: str,
    ) -> None:
        self.mounts = mounts
        self._context = context
        self._scratch = scratch  # this step's own directory: copies and secret files
        self._root_of = root_of
        self._secrets = secrets
        self._ssh = ssh
        self._caches = caches
        self._description = description
        self._stack = contextlib.AsyncExitStack()
        self.host_mounts: list[dict[str, Any]] = []  # HostConfig.Mounts of the step's container
        self.env: list[str] = []  # variables for this step only (secrets as env, SSH_AUTH_SOCK)

    async def __aenter__(self) -> StepMounts:
        try:
            for mount in self.mounts:
                await self._prepare(mount)
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self._stack.aclose()
        finally:
            shutil.rmtree(self._scratch, ignore_errors=True)

    def key(self) -> str:
        """What of the mounts changes the step's result, for its cache key and history: types,
        targets, sources (with a digest of the context's files); a secret only by its id."""
        parts = []
        for m in self.mounts:
            text = f"--mount=type={m.type}"
            if m.type in ("bind", "cache"):
                text += f",target={m.target}" + (f",from={m.from_}" if m.from_ else "")
                text += f",source={m.source}" if m.source else ""
                text += ",rw" if m.type == "bind" and not m.readonly else ""
                text += f",id={m.id},sharing={m.sharing}" if m.type == "cache" else ""
                if m.type == "bind" and not m.from_:
                    text += f",digest={self._context_digest(m.source)}"
            elif m.type == "tmpfs":
                text += f",target={m.target}" + (f",size={m.size}" if m.size else "")
            else:
                text += f",id={m.id}" + (f",target={m.target}" if m.target else "")
                text += f",env={m.env}" if m.env else ""
            parts.append(text)
        return " ".join(parts)

    def _context_digest(self, source: str) -> str:
        found = build_context.sources(self._context, [source or "."], "RUN --mount")
        return build_context.content_digest(found)

    async def _prepare(self, mount: RunMount) -> None:
        if mount.type == "bind":
            root = await self._root_of(mount.from_) if mount.from_ else self._context
            source = self._inside(root, mount.source, mount.from_ or "the build context")
            if not mount.readonly:  # writes are discarded: the container gets a copy
                source = self._copy(source)
            self._bind(source, mount.target, mount.readonly)
        elif mount.type == "cache":
            if self._caches is None:
                raise NotSupported("RUN --mount=type=cache: this daemon has no build cache store")
            seed = None
            # BuildKit keys a cache by where it starts as well as by its id: a cache seeded from a
            # stage, or made with its own mode/uid/gid, is another cache
            default = (mount.mode, mount.uid, mount.gid) == (0o755, 0, 0)
            base = "" if default else f"perms:{mount.mode:o}:{mount.uid}:{mount.gid}"
            if mount.from_:
                origin = self._inside(await self._root_of(mount.from_), mount.source, mount.from_)
                seed = functools.partial(_seed, origin)
                base = f"from:{mount.from_}:{mount.source}:{base}"
            path = await self._stack.enter_async_context(
                self._caches.acquire(
                    mount.id, sharing=mount.sharing, mode=mount.mode, uid=mount.uid, gid=mount.gid,
                    description=f"cached mount {mount.target} from {self._description}", base=base, seed=seed,
                )
            )  # fmt: skip
            self._bind(str(path), mount.target, mount.readonly)
        elif mount.type == "tmpfs":
            entry: dict[str, Any] = {"Type": "tmpfs", "Target": mount.target}
            if mount.size:
                entry["TmpfsOptions"] = {"SizeBytes": mount.size}
            self.host_mounts.append(entry)
        elif mount.type == "secret":
            self._secret(mount)
        else:
            self._agent(mount)

    def _secret(self, mount: RunMount) -> None:
        value = self._secrets.get(mount.id)
        if value is None:
            if mount.required:
                raise NotFound(
                    f"secret {mount.id} not found: pass it with berth build --secret id={mount.id},…"
                )
            return  # BuildKit skips a secret that is not required and not given
        if mount.env:
            self.env.append(f"{mount.env}={value.decode('utf-8', 'replace')}")
        if not mount.target:
            return
        directory = self._scratch / f"secret-{len(self.host_mounts)}"
        directory.mkdir(parents=True, mode=0o700)
        path = directory / "value"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(value)
        os.chown(path, mount.uid, mount.gid)
        os.chmod(path, mount.mode)
        self._bind(str(path), mount.target, True)

    def _agent(self, mount: RunMount) -> None:
        path = self._ssh.get(mount.id)
        if path is None:
            if mount.required:
                raise NotFound(f"no SSH key {mount.id!r} forwarded: build with berth build --ssh {mount.id}")
            return
        if (mount.mode, mount.uid, mount.gid) != (0o600, 0, 0):
            raise NotSupported(
                "RUN --mount=type=ssh: mode, uid and gid are not supported (the agent's socket is bound as it is)"
            )
        try:
            is_socket = stat.S_ISSOCK(os.stat(path).st_mode)
        except OSError as exc:
            raise InvalidArgument(f"SSH agent socket {path}: {exc.strerror}") from None
        if not is_socket:
            raise InvalidArgument(f"SSH agent socket {path}: not a socket")
        self._bind(path, mount.target, False)
        if not any(e.startswith("SSH_AUTH_SOCK=") for e in self.env):
            self.env.append(f"SSH_AUTH_SOCK={mount.target}")

    def add_file(self, content: str, target: str, mode: int) -> None:
        """A file for this step only (a heredoc's ``#!`` script), bound read-only at ``target``."""
        directory = self._scratch / f"file-{len(self.host_mounts)}"
        directory.mkdir(parents=True, mode=0o700)
        path = directory / "file"
        path.write_text(content)
        os.chmod(path, mode)
        self._bind(str(path), target, True)  # under /dev, a tmpfs: no mount point in the layer

    def _bind(self, source: str, target: str, readonly: bool) -> None:
        self.host_mounts.append({"Type": "bind", "Source": source, "Target": target, "ReadOnly": readonly})

    @staticmethod
    def _inside(root: Path, source: str, what: str) -> str:
        path = build_context.resolve_scoped(str(root), source.lstrip("/") or ".")
        if not os.path.lexists(path):
            raise NotFound(f"RUN --mount: {source or '/'} not found in {what}")
        return path

    def _copy(self, source: str) -> str:
        self._scratch.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = self._scratch / f"rw-{len(self.host_mounts)}"
        if os.path.isdir(source):
            shutil.copytree(source, target, symlinks=True)
        else:
            shutil.copy2(source, target)
        return str(target)


def _seed(origin: str, data: Path) -> None:
    """A new cache's first contents: a copy of its ``from`` stage's ``source``."""
    if os.path.isdir(origin):
        shutil.copytree(origin, data, symlinks=True, dirs_exist_ok=True)
    else:
        shutil.copy2(origin, data / os.path.basename(origin))


def existing(root_fd: int, targets: list[str]) -> set[str]:
    """Of the mount targets and their parents, those the image already has (kept by ``scrub``)."""
    found = set()
    for target in targets:
        for path in _with_parents(target):
            try:
                os.close(archive.open_in_root(root_fd, path, os.O_PATH | os.O_CLOEXEC | os.O_NOFOLLOW))
            except OSError:
                continue
            found.add(path)
    return found


def scrub(upper: Path, targets: list[str], kept: set[str]) -> None:
    """Remove from the step's own layer (``upper``) the empty mount points the runtime made for
    ``targets``, and the parents it made for them, deepest first; what the image had stays."""
    paths = sorted({p for t in targets for p in _with_parents(t)} - kept, key=lambda p: -p.count("/"))
    for path in paths:
        full = upper / path.lstrip("/")
        try:
            st = os.lstat(full)
        except OSError:
            continue
        with contextlib.suppress(OSError):
            if stat.S_ISDIR(st.st_mode):
                os.rmdir(full)  # only when empty: what the step wrote there stays
            elif path in targets and (
                stat.S_ISSOCK(st.st_mode) or (stat.S_ISREG(st.st_mode) and not st.st_size)
            ):
                os.unlink(full)  # an empty file or a socket made to bind a file onto


def _with_parents(target: str) -> list[str]:
    parts = target.strip("/").split("/")
    return ["/" + "/".join(parts[: n + 1]) for n in range(len(parts)) if parts[0]]
