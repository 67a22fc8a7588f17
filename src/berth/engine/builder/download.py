"""``ADD http(s)://…``: the daemon downloads the file, as dockerd's classic builder does. It is named
after the URL path's last element, has mode 0600 and the ``Last-Modified`` time (else the epoch),
and is never unpacked, even when it is an archive. A non-2xx answer fails the step in dockerd's words
(``failed to GET URL with status 404 Not Found: …``). ``remote=URL`` contexts come the same way:
an archive is the context, a ``text/plain`` answer the Dockerfile alone.

``ADD --checksum=<algorithm>:<hex>`` pins the download: the digest is parsed as BuildKit's go-digest
does (sha256, sha384 or sha512, lower-case hex of the right length) and the file must have it, else
the step fails with BuildKit's ``digest mismatch for URL: got (expected: want)``. BuildKit itself
hashes downloads with SHA-256 only, so a sha384/sha512 checksum can never match there (its docs say
SHA-256 is the only supported algorithm); Berth checks each with its own algorithm. ``--checksum``
takes one source, HTTP(S) or git (a commit sha prefix, checked in ``git.py``), and only in ADD.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import os
import posixpath
import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

import aiohttp

from berth.engine.builder.context import Source
from berth.engine.builder.git import is_git_source, redact
from berth.errors import InvalidArgument, Unavailable

_CHUNK = 1 << 16
_DIGEST_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}  # go-digest's available algorithms
_DIGEST_SYNTAX = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")


def is_remote(source: str) -> bool:
    """An http(s) URL (what dockerd's ``urlutil.IsURL`` takes for ADD)."""
    return source.startswith(("http://", "https://"))


_GIT = re.compile(r"^(?:https?://.*\.git(?:#.+)?$|git@|git://|github\.com/)")


def is_git(source: str) -> bool:
    """A git repository as dockerd's ``urlutil.IsGitURL`` sees one."""
    return bool(_GIT.match(source))


async def fetch(url: str, directory: Path) -> Source:
    """Download ``url`` into a new file in ``directory``; the source COPY/ADD then takes it from."""
    name = posixpath.basename(urllib.parse.urlsplit(url).path)
    if name in ("", ".", ".."):
        raise InvalidArgument(f"cannot determine filename from url: {url}")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / name
    headers = await _get(url, path)
    modified = headers.get("Last-Modified", "")
    mtime = 0.0
    if modified:
        try:
            mtime = email.utils.parsedate_to_datetime(modified).timestamp()
        except (TypeError, ValueError):
            mtime = 0.0
    os.utime(path, (mtime, mtime))
    return Source(path, f"{url}\0{modified}", name)


async def fetch_context(url: str, path: Path) -> bool:
    """``remote=URL``: the build context downloaded to ``path``; True when it is a Dockerfile
    (served as ``text/plain``, as dockerd decides) rather than an archive."""
    headers = await _get(url, path)
    return headers.get("Content-Type", "").split(";")[0].strip().lower() == "text/plain"


async def _get(url: str, path: Path) -> Mapping[str, str]:
    try:
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            if response.status >= 400:
                body = (await response.content.read(512)).decode(errors="replace").strip()
                raise InvalidArgument(
                    f"failed to GET {url} with status {response.status} {response.reason}: {body}"
                )
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "wb") as out:
                async for chunk in response.content.iter_chunked(_CHUNK):
                    await asyncio.to_thread(out.write, chunk)
            return dict(response.headers)
    except aiohttp.ClientError as exc:
        raise Unavailable(f'Get "{url}": {exc}') from exc


def check_checksum_use(command: str, sources: list[str]) -> None:
    """``--checksum`` where BuildKit allows it: ADD, one source, an HTTP(S) URL or a git repository
    (``InvalidArgument`` in BuildKit's words otherwise, before anything is fetched)."""
    if command != "ADD":
        raise InvalidArgument("checksum can't be specified for COPY")
    if len(sources) != 1:
        raise InvalidArgument("checksum can't be specified for multiple sources")
    if not (is_remote(sources[0]) or is_git_source(sources[0])):
        raise InvalidArgument("checksum requires HTTP(S) or Git sources")


def parse_checksum(checksum: str) -> tuple[str, str]:
    """(algorithm, hex) of an HTTP ``--checksum``, validated as go-digest's ``Parse`` (its messages)."""
    algorithm, sep, encoded = checksum.partition(":")
    if not sep or not algorithm or not encoded:
        raise InvalidArgument("invalid checksum digest format")
    size = _DIGEST_SIZES.get(algorithm)
    if size is None:
        if _DIGEST_SYNTAX.match(checksum):
            raise InvalidArgument("unsupported digest algorithm")
        raise InvalidArgument("invalid checksum digest format")
    if len(encoded) != size * 2:
        raise InvalidArgument("invalid checksum digest length")
    if not re.fullmatch(r"[a-f0-9]+", encoded):
        raise InvalidArgument("invalid checksum digest format")
    return algorithm, encoded


def verify_checksum(path: Path, checksum: str, url: str = "") -> None:
    """``ADD --checksum``: ``path`` (the downloaded file) must have this digest."""
    algorithm, encoded = parse_checksum(checksum)
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    got = f"{algorithm}:{digest.hexdigest()}"
    if digest.hexdigest() != encoded:
        where = f" for {redact(url)}" if url else ""
        raise InvalidArgument(f"digest mismatch{where}: {got} (expected: {checksum})")
