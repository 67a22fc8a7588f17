"""``ADD <git repository> <dest>``: what BuildKit takes for a git source, and the checkout it makes.

A git source is, as BuildKit's ``dfgitutil.ParseGitRef`` decides: ``git@host:path`` (scp-like ssh,
user required), ``ssh://…``, ``git://…``, or ``http(s)://…`` whose URL path ends in ``.git``; Berth
adds ``file:///….git`` for local use and tests. ``#ref:subdir`` picks a branch, tag, full commit sha
or other ref (``pull/42/head``) and a directory of it; BuildKit 0.24's queries (``?ref=``, ``tag=``,
``branch=``, ``subdir=``, ``checksum=``/``commit=``, ``keep-git-dir=``, ``submodules=``) say the same
more explicitly. ``github.com/…`` without a scheme is a local path for ADD, as in BuildKit.

The checkout is what BuildKit's snapshot holds: the tree of the ref (the remote's default branch when
none is named; a branch wins over a tag of the same name), submodules included, then only ``subdir``
of it, without ``.git`` unless it is kept (never with a subdir). Files are 0644, or 0755 when
executable, directories 0755 (git under umask 022); mtimes are the checkout's, as BuildKit's default,
or the commit's on request. ADD copies its contents into the destination, like a directory's.

Refused: ``file://`` unless the caller allows it (a Dockerfile must not read the daemon's own
repositories; BuildKit has no such source), a subdir that is a symlink or leaves the tree, short
shas as a ref (as BuildKit: a ref names a branch, tag or full sha; ``--checksum`` takes a prefix).
Nothing of the daemon's environment or git config reaches git: no prompts, no credential helpers,
ssh in batch mode (Berth forwards no ssh agent, so private ssh repositories fail).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import posixpath
import re
import shutil
import signal
import stat
import tempfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from berth.errors import Forbidden, InvalidArgument, NotSupported, Unavailable

_SCHEMES = ("http", "https", "ssh", "git", "file")
_PROTO = re.compile(r"^[a-zA-Z0-9]+://")
# BuildKit's sshutil scp-style form (user required, so ``host:path`` stays a local path)
_SCP = re.compile(r"^([a-zA-Z0-9-_]+)@([a-zA-Z0-9-.]+):(.*?)(?:\?(.*?))?(?:#(.*))?$")
_COMMIT = re.compile(r"^(?:[a-f0-9]{40}|[a-f0-9]{64})$")
_HEX = re.compile(r"^[a-fA-F0-9]+$")
_TRUE = ("1", "t", "T", "TRUE", "true", "True")  # Go's strconv.ParseBool
_FALSE = ("0", "f", "F", "FALSE", "false", "False")

# every git command gets these (tests add protocol.version=0 to exercise the full-fetch fallback)
_BASE_CONFIG: tuple[str, ...] = ("init.defaultBranch=master", "advice.detachedHead=false")
_TIMEOUT = 600.0  # one git command; a network fetch stuck longer fails the step


@dataclass(frozen=True, slots=True)
class GitRef:
    remote: str  # what git fetches from: the URL without fragment or query
    ref: str = ""  # branch, tag, full commit sha or ref path; "" is the remote's default branch
    subdir: str = ""  # a directory of the tree; "" is all of it
    checksum: str = ""  # ?checksum= / ?commit=: a hex prefix the resolved commit must have
    keep_git_dir: bool | None = None  # ?keep-git-dir=; None when the URL does not say
    submodules: bool | None = None  # ?submodules=; None when the URL does not say

    @property
    def is_local(self) -> bool:
        return self.remote.startswith("file://")

    @property
    def unencrypted(self) -> bool:
        """``git://`` and ``http://``: BuildKit accepts them (a warning is due)."""
        return self.remote.startswith(("git://", "http://"))

    def __str__(self) -> str:
        """The source as messages name it: ``remote#ref:subdir``, a URL password masked."""
        shown = redact(self.remote)
        if self.ref or self.subdir:
            shown += "#" + self.ref + (":" + self.subdir if self.subdir else "")
        return shown


@dataclass(frozen=True, slots=True)
class GitCheckout:
    path: Path  # the checkout (``dest``): ADD copies its contents
    commit: str  # the commit checked out (an annotated tag peeled), for the build cache
    ref: str  # the ref it came from (``refs/heads/main``, ``refs/tags/v1``) or the sha asked for
    commit_time: int  # the commit's committer time (Unix seconds), e.g. for SOURCE_DATE_EPOCH


def _split(src: str) -> tuple[str, str, str] | None:
    """(remote, fragment, raw query) when ``src`` is a git source, else None."""
    if src.startswith(("./", "../")):
        return None
    if _PROTO.match(src):
        try:
            url = urllib.parse.urlsplit(src)
            _ = url.port  # an invalid port makes Go's url.Parse fail: not a git source
        except ValueError:
            return None
        if url.scheme not in _SCHEMES:
            return None
        if url.scheme in ("http", "https", "file") and not url.path.endswith(".git"):
            return None
        if url.scheme == "file" and url.netloc:
            return None  # file://host/… is no local path
        remote = urllib.parse.urlunsplit((url.scheme, url.netloc, url.path, "", ""))
        return remote, url.fragment, url.query
    match = _SCP.match(src)
    if match is None:
        return None
    user, host, path, query, fragment = match.groups()
    return f"{user}@{host}:{path}", fragment or "", query or ""


def is_git_source(src: str) -> bool:
    """Whether ADD takes ``src`` as a git repository (see the module docstring); syntax only."""
    return _split(src) is not None


def parse_git_ref(src: str) -> GitRef:
    """``src`` as a :class:`GitRef`; ``InvalidArgument`` in BuildKit's words for a bad query, or
    when ``src`` is no git source at all."""
    parts = _split(src)
    if parts is None:
        raise InvalidArgument(f"not a git repository URL: {src}")
    remote, fragment, raw_query = parts
    ref, _, subdir = fragment.partition(":")
    checksum = ""
    keep: bool | None = None
    submodules: bool | None = None
    tag = branch = ""
    for key, values in urllib.parse.parse_qs(raw_query, keep_blank_values=True).items():
        if len(values) > 1:
            raise InvalidArgument(f"query {_q(key)} has multiple values")
        value = values[0]
        if value == "" and key not in ("keep-git-dir", "submodules"):
            raise InvalidArgument(f"query {_q(key)} has no value")
        if key == "ref":
            if ref and ref != value:
                raise InvalidArgument(f"ref conflicts: {_q(ref)} vs {_q(value)}")
            ref = value
        elif key == "tag":
            tag = value if value.startswith("refs/tags/") else "refs/tags/" + value
        elif key == "branch":
            branch = value if value.startswith("refs/heads/") else "refs/heads/" + value
        elif key == "subdir":
            if subdir and subdir != value:
                raise InvalidArgument(f"subdir conflicts: {_q(subdir)} vs {_q(value)}")
            subdir = value
        elif key in ("checksum", "commit"):
            checksum = value
        elif key in ("keep-git-dir", "submodules"):
            flag = _bool(value)
            if flag is None:
                raise InvalidArgument(f"invalid {key} value: {_q(value)}")
            if key == "keep-git-dir":
                keep = flag
            else:
                submodules = flag
        else:
            raise InvalidArgument(f"unexpected query {_q(key)}")
    if tag:
        if ref and ref != tag:
            raise InvalidArgument(f"ref conflicts: {_q(ref)} vs {_q(tag)}")
        ref = tag
    if branch:
        if tag:
            raise InvalidArgument("branch conflicts with tag")
        if ref and ref != branch:
            raise InvalidArgument(f"ref conflicts: {_q(ref)} vs {_q(branch)}")
        ref = branch
    if checksum and not ref:
        ref = checksum
    return GitRef(remote, ref, subdir, checksum, keep, submodules)


def _q(text: str) -> str:
    return json.dumps(text)  # Go's %q, for the ASCII these are


def _bool(value: str) -> bool | None:
    if value == "" or value in _TRUE:
        return True  # a bare ?keep-git-dir turns it on
    return False if value in _FALSE else None


def redact(remote: str) -> str:
    """``remote`` with a URL password masked, as BuildKit's ``RedactCredentials``."""
    try:
        url = urllib.parse.urlsplit(remote)
    except ValueError:
        return remote
    if url.password is None:
        return remote
    netloc = f"{url.username}:xxxxx@{url.hostname}" + (f":{url.port}" if url.port else "")
    return urllib.parse.urlunsplit(url._replace(netloc=netloc))


def _checksum_of(ref: GitRef, checksum: str) -> str:
    """The ``--checksum`` flag merged with the URL's, checked as BuildKit does (lower-cased)."""
    if checksum and ref.checksum and checksum != ref.checksum:
        raise InvalidArgument(f"checksum mismatch {_q(checksum)} != {_q(ref.checksum)}")
    wanted = checksum or ref.checksum
    if wanted and not _HEX.match(wanted):
        raise InvalidArgument(f"invalid checksum {wanted} for Git URL, expected hex commit hash")
    return wanted.lower()


def _check_checksum(wanted: str, sha: str, peeled: str = "") -> None:
    if not wanted or sha.startswith(wanted) or (peeled and peeled.startswith(wanted)):
        return
    got = f"{sha} or {peeled}" if peeled and peeled != sha else sha
    raise InvalidArgument(f"expected checksum to match {wanted}, got {got}")


class _Git:
    """Runs git for one source: a clean environment, its own empty HOME, errors in one line."""

    def __init__(self, ref: GitRef, home: Path) -> None:
        self.source = str(ref)
        self.secret = urllib.parse.urlsplit(ref.remote).password if "://" in ref.remote else None
        binary = shutil.which("git")
        if binary is None:
            raise NotSupported("ADD of a git repository needs git installed on the daemon's host")
        self.binary = binary
        config = list(_BASE_CONFIG)
        # file:// only for a local source (its submodules too); never for a remote's submodules
        config.append("protocol.file.allow=" + ("always" if ref.is_local else "never"))
        config.append("protocol.ext.allow=never")
        self.config = [arg for item in config for arg in ("-c", item)]
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_SSH_COMMAND": "ssh -o BatchMode=yes",
            "LC_ALL": "C",  # git's messages, as the error quotes them
        }

    async def run(self, *args: str, cwd: Path | None = None) -> str:
        """git's stdout; ``InvalidArgument`` with git's telling stderr line when it fails."""
        code, out, err = await self.attempt(*args, cwd=cwd)
        if code != 0:
            raise self.error(err)
        return out

    async def attempt(self, *args: str, cwd: Path | None = None) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            self.binary,
            *self.config,
            *args,
            cwd=cwd,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its ssh/http helpers die with it
            umask=0o022,  # checkout modes are 0644/0755 whatever the daemon's umask
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), _TIMEOUT)
        except BaseException as exc:  # timeout or the build cancelled: stop git and its helpers
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
            if isinstance(exc, TimeoutError):
                raise Unavailable(
                    f"failed to fetch git repository {self.source}: git {args[0]} timed out"
                ) from None
            raise
        return process.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")

    def error(self, stderr: str, detail: str = "") -> InvalidArgument:
        return InvalidArgument(f"failed to fetch git repository {self.source}: {detail or self.why(stderr)}")

    def why(self, stderr: str) -> str:
        """The line that says what went wrong: git's first ``fatal:``/``error:``, past the advice
        git adds for every unreadable remote (which would hide ssh's own reason)."""
        boilerplate = (
            "fatal: Could not read from remote repository.",
            "Please make sure you have the correct access rights",
            "and the repository exists.",
        )
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        lines = [line for line in lines if not line.startswith(("warning:", "hint:", "From "))]
        telling = [line for line in lines if line not in boilerplate] or lines
        reason = next((line for line in telling if line.startswith(("fatal:", "error:"))), "")
        reason = reason or (telling[-1] if telling else "git failed")
        return reason.replace(self.secret, "xxxxx") if self.secret else reason


async def _ls_remote(git: _Git, url: str, *patterns: str, cwd: Path | None) -> list[tuple[str, str]]:
    out = await git.run("ls-remote", url, *patterns, cwd=cwd)
    return [(sha, name) for sha, _, name in (line.partition("\t") for line in out.splitlines()) if name]


async def _default_branch(git: _Git, url: str, cwd: Path | None = None) -> str:
    out = await git.run("ls-remote", "--symref", url, "HEAD", cwd=cwd)
    match = re.search(r"^ref: refs/heads/(\S+)\tHEAD$", out, re.MULTILINE)
    if match is None:
        raise git.error("", f"could not find default branch for repository: {git.source}")
    return match.group(1)


async def _resolve(git: _Git, url: str, ref: str, cwd: Path | None = None) -> tuple[str, str, str]:
    """(full ref name, its sha, the commit an annotated tag points to) as BuildKit's
    ``resolveMetadata`` picks them: an exact ``refs/…`` name, else a branch, else a tag; ("", "",
    "") when the remote has none (the fetch then says so in git's words)."""
    lines = await _ls_remote(git, url, ref, ref + "^{}", cwd=cwd)
    partial = "refs/" + ref.removeprefix("refs/")
    head = "refs/heads/" + ref.removeprefix("refs/heads/")
    tag = "refs/tags/" + ref.removeprefix("refs/tags/")
    found: dict[str, str] = {}
    for sha, name in lines:
        for kind, wanted in (("head", head), ("tag", tag), ("peeled", tag + "^{}"), ("partial", partial)):
            if name == wanted:
                found[kind] = sha
                break  # Go's switch: the first case that matches
    if "partial" in found:
        return partial, found["partial"], ""
    if "head" in found:
        return head, found["head"], ""
    if "tag" in found:
        return tag, found["tag"], found.get("peeled", "")
    return "", "", ""


async def resolve_git(ref: GitRef, *, checksum: str = "", allow_file: bool = False) -> str:
    """The commit ``ref`` names now (``git ls-remote``, nothing fetched), ``--checksum`` checked:
    a cache key for the step before any checkout. An annotated tag gives the commit it points to."""
    wanted = _checksum_of(ref, checksum)
    _refuse_local(ref, allow_file)
    if _COMMIT.match(ref.ref):
        _check_checksum(wanted, ref.ref)
        return ref.ref
    with tempfile.TemporaryDirectory(prefix="berth-git-home-") as home:
        git = _Git(ref, Path(home))
        name = ref.ref or await _default_branch(git, ref.remote)
        full, sha, peeled = await _resolve(git, ref.remote, name)
        if not full:
            raise git.error("", f"repository does not contain ref {name}")
        _check_checksum(wanted, sha, peeled)
        return peeled or sha


def _refuse_local(ref: GitRef, allow_file: bool) -> None:
    if ref.is_local and not allow_file:
        raise Forbidden(
            f"ADD of a file:// git repository is not allowed: {ref} (the daemon's own files are no "
            "build source; put the repository in the build context, or serve it over https)"
        )


async def fetch_git(
    ref: GitRef,
    dest: Path,
    *,
    keep_git_dir: bool | None,
    checksum: str = "",
    submodules: bool = True,
    commit_mtime: bool = False,
    allow_file: bool = False,
) -> GitCheckout:
    """Check ``ref`` out into ``dest`` (created; it may exist empty), as BuildKit's git source.

    ``keep_git_dir``/``checksum``: ``ADD --keep-git-dir``/``--checksum`` (None/"" when not given),
    merged with the URL's own and refused when they disagree, as BuildKit. ``submodules=False``
    skips submodules (so does ``?submodules=false``). ``commit_mtime``: every mtime becomes the
    commit's time (BuildKit's ``git.mtime=commit``). ``allow_file``: accept ``file://`` remotes.
    """
    if keep_git_dir is not None and ref.keep_git_dir is not None and keep_git_dir != ref.keep_git_dir:
        raise InvalidArgument("inconsistent keep-git-dir configuration")
    keep = bool(ref.keep_git_dir if ref.keep_git_dir is not None else keep_git_dir)
    wanted = _checksum_of(ref, checksum)
    _refuse_local(ref, allow_file)
    if _COMMIT.match(ref.ref):
        _check_checksum(wanted, ref.ref)  # before any fetch, as BuildKit
    dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"git checkout destination is not empty: {dest}")
    work = Path(tempfile.mkdtemp(prefix=".git-", dir=dest.parent))  # same filesystem: renames
    try:
        (work / "home").mkdir()
        git = _Git(ref, work / "home")
        tree = work / "tree"
        await git.run("init", "-q", str(tree))
        await git.run("remote", "add", "origin", ref.remote, cwd=tree)  # submodules' relative URLs
        full, commit = await _fetch(git, tree, ref, wanted)
        await git.run("checkout", "-q", "--detach", commit, cwd=tree)
        if submodules and ref.submodules is not False and (tree / ".gitmodules").exists():
            await _update_submodules(git, tree)
        commit_time = int((await git.run("show", "-s", "--format=%ct", commit, cwd=tree)).strip())
        subdir = posixpath.normpath("/" + ref.subdir).lstrip("/") if ref.subdir else ""
        if keep and not subdir:  # BuildKit keeps .git only for the whole tree
            await _tidy_git_dir(git, tree, ref)
        else:
            await asyncio.to_thread(_remove_git_dirs, tree)
        chosen = _subdir(git, tree, ref.subdir, subdir) if subdir else tree
        if dest.exists():
            dest.rmdir()
        chosen.rename(dest)
        if commit_mtime:
            await asyncio.to_thread(_set_mtimes, dest, commit_time)
        return GitCheckout(dest, commit, full or ref.ref, commit_time)
    finally:
        await asyncio.to_thread(shutil.rmtree, work, True)


async def _fetch(git: _Git, tree: Path, ref: GitRef, wanted: str) -> tuple[str, str]:
    """Fetch what ``ref`` names into ``tree``'s repository, shallow where git can; (the full ref
    name or "" for a sha, the commit)."""
    if _COMMIT.match(ref.ref):
        code, _, err = await git.attempt(
            "fetch", "-q", "--depth", "1", "--no-tags", "origin", ref.ref, cwd=tree
        )
        if code != 0:  # a server that only serves advertised refs: fetch them all, then look
            await git.run("fetch", "-q", "--tags", "origin", "+refs/heads/*:refs/remotes/origin/*", cwd=tree)
            found, _, _ = await git.attempt("cat-file", "-e", ref.ref + "^{commit}", cwd=tree)
            if found != 0:
                raise git.error(err)
        return "", (await git.run("rev-parse", "--verify", ref.ref + "^{commit}", cwd=tree)).strip()
    name = ref.ref or await _default_branch(git, "origin", tree)
    full, sha, peeled = await _resolve(git, "origin", name, tree)
    if not full:  # none of BuildKit's names: git says why (or finds it, e.g. HEAD)
        await git.run("fetch", "-q", "--depth", "1", "--no-tags", "origin", name, cwd=tree)
        commit = (await git.run("rev-parse", "--verify", "FETCH_HEAD^{commit}", cwd=tree)).strip()
        _check_checksum(wanted, commit)
        return name, commit
    _check_checksum(wanted, sha, peeled)
    # into a local ref of the same name, so a kept .git knows where HEAD came from
    await git.run(
        "fetch", "-q", "--depth", "1", "--no-tags", "--update-head-ok", "origin", f"+{full}:{full}", cwd=tree
    )
    return full, (await git.run("rev-parse", "--verify", full + "^{commit}", cwd=tree)).strip()


async def _update_submodules(git: _Git, tree: Path) -> None:
    args = ("submodule", "update", "-q", "--init", "--recursive")
    code, _, err = await git.attempt(*args, "--depth", "1", cwd=tree)
    if code != 0:  # a submodule commit a shallow fetch cannot reach, as BuildKit retries
        code, _, err = await git.attempt(*args, cwd=tree)
        if code != 0:
            raise git.error(err)


async def _tidy_git_dir(git: _Git, tree: Path, ref: GitRef) -> None:
    """A kept .git as BuildKit leaves it: HEAD detached at the commit, ``origin`` without the
    URL's password, no reflog or FETCH_HEAD."""
    await git.run("remote", "set-url", "origin", redact(ref.remote), cwd=tree)
    await git.run("reflog", "expire", "--all", "--expire=now", cwd=tree)
    (tree / ".git" / "FETCH_HEAD").unlink(missing_ok=True)


def _remove_git_dirs(tree: Path) -> None:
    """The checkout's ``.git`` and its submodules' ``.git`` files: a repository cannot track a
    ``.git`` entry, so each one found is git's own."""
    for dirpath, dirnames, filenames in os.walk(tree):
        if ".git" in dirnames:
            dirnames.remove(".git")
            path = os.path.join(dirpath, ".git")
            if os.path.islink(path):
                os.unlink(path)
            else:
                shutil.rmtree(path)
        if ".git" in filenames:
            os.unlink(os.path.join(dirpath, ".git"))


def _subdir(git: _Git, tree: Path, asked: str, subdir: str) -> Path:
    """``subdir`` of the tree, each part a real directory: a symlink could point anywhere."""
    path = tree
    for part in subdir.split("/"):
        path = path / part
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            raise git.error("", f"failed to open subdir {asked}: no such file or directory") from None
        if stat.S_ISLNK(mode):
            raise git.error("", f"failed to open subdir {asked}: {part} is a symbolic link")
        if not stat.S_ISDIR(mode):
            raise git.error("", f"failed to open subdir {asked}: not a directory")
    return path


def _set_mtimes(root: Path, when: int) -> None:
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames + dirnames:
            os.utime(os.path.join(dirpath, name), (when, when), follow_symlinks=False)
    os.utime(root, (when, when))
