"""``ADD http(s)://…``: the daemon downloads the file, as dockerd's classic builder does. It is named
after the URL path's last element, has mode 0600 and the ``Last-Modified`` time (else the epoch),
and is never unpacked, even when it is an archive. A non-2xx answer fails the step in dockerd's words
(``failed to GET URL with status 404 Not Found: …``). ``remote=URL`` contexts come the same way:
an archive is the context, a ``text/plain`` answer the Dockerfile alone.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import posixpath
import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

import aiohttp

from berth.engine.builder.context import Source
from berth.errors import InvalidArgument, Unavailable

_CHUNK = 1 << 16


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
