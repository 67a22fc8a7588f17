"""What a blob GET answers to its ``Range`` and conditional headers: FileResponse's rules (aiohttp,
pinned), for every driver, with the digest as the ETag (distribution's).

Blobs are content-addressed, so they never change: ``If-Range``, ``If-Modified-Since`` and
``If-Unmodified-Since`` always hold, and only an ETag that is not the blob's can fail a condition.
The Range header is aiohttp's parse (``request.http_range``): one ``bytes=a-b``, ``bytes=a-`` or
``bytes=-n``; anything else (several ranges, a malformed one) is 416 as FileResponse answers it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiohttp import web
from aiohttp.helpers import ETAG_ANY, ETag

_EMPTY_SUFFIX = re.compile(r"^\s*bytes=\s*-0+\s*$")


@dataclass(frozen=True, slots=True)
class Answer:
    """The status, and for 200/206 the bytes to send (``offset``, ``count``); ``content_range`` for
    206 and 416."""

    status: int
    offset: int = 0
    count: int = 0
    content_range: str | None = None


def plan(request: web.BaseRequest, size: int, etag: str) -> Answer:
    """The answer to a GET of a ``size``-byte blob whose ETag value is ``etag`` (unquoted)."""
    if (if_match := request.if_match) is not None and not _matches(etag, if_match, weak=False):
        return Answer(412)
    if (if_none_match := request.if_none_match) is not None and _matches(etag, if_none_match, weak=True):
        return Answer(304)
    if_range = request.headers.get("If-Range")
    if if_range is not None and if_range.startswith(('"', "W/")) and if_range.strip() != f'"{etag}"':
        return Answer(200, 0, size)  # an entity tag of something else: the whole blob (RFC 9110 13.1.5)
    if _EMPTY_SUFFIX.match(request.headers.get("Range", "")):  # the last 0 bytes: none (RFC 9110 14.1.2)
        return Answer(416, content_range=f"bytes */{size}")  # aiohttp reads bytes=-0 as bytes=0-
    try:
        wanted = request.http_range
    except ValueError:
        return Answer(416, content_range=f"bytes */{size}")
    start, stop = wanted.start, wanted.stop
    if start is None:
        return Answer(200, 0, size)
    if start < 0:  # bytes=-n: the last n bytes
        start = max(size + start, 0)
        count = size - start
    else:
        count = min(size if stop is None else stop, size) - start
    if start >= size:
        return Answer(416, content_range=f"bytes */{size}")
    return Answer(206, start, count, f"bytes {start}-{start + count - 1}/{size}")


def _matches(etag: str, etags: tuple[ETag, ...], *, weak: bool) -> bool:
    if len(etags) == 1 and etags[0].value == ETAG_ANY:
        return True
    return any(tag.value == etag for tag in etags if weak or not tag.is_weak)
