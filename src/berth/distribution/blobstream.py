"""``BlobStream``: a blob's body, checked against its descriptor as it is read, resumed where it broke.

A connection that breaks in the middle of a layer (a registry restarted, a balancer's idle timeout, a
flaky link) does not start the layer over: the stream asks again for the rest with ``Range: bytes=N-``,
as dockerd's puller does, and goes on hashing where it stopped. A registry that ignores ``Range``
(answers 200) sends the blob from its start and the bytes already had are skipped. Resumes that bring
no new byte are bounded (``MAX_STALLED_RESUMES``), and so are all resumes of one blob
(``MAX_RESUMES``); then the read fails as it did before, with what was received.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable

import aiohttp

from berth.distribution.errors import (
    DigestMismatch,
    OversizedContent,
    RegistryUnavailable,
    TruncatedStream,
)
from berth.oci.image import Descriptor

MAX_RESUMES = 10
MAX_STALLED_RESUMES = 2  # resumes in a row that brought no new byte
_RESUME_DELAY = 0.2  # seconds before a resume, doubled for each stalled one in a row
_READ_MIN = 256 << 10
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-\d+/(?:\d+|\*)$")
_BROKEN = (
    aiohttp.ClientPayloadError,
    aiohttp.ClientConnectionError,
    asyncio.IncompleteReadError,
    TimeoutError,
)

Reopen = Callable[[int], Awaitable[aiohttp.ClientResponse]]
"""Ask again for the blob from byte ``offset`` on (a GET with ``Range``); the response as it came."""

log = logging.getLogger(__name__)


class BlobStream:
    """The body of a blob GET, checked against its descriptor while it is read.

    ``read(n)`` returns up to ``n`` bytes and ``b""`` at the end; the call that reaches the end raises
    ``TruncatedStream`` (short body), ``OversizedContent`` (long body) or ``DigestMismatch``.
    ``received`` counts the bytes so far (for progress); ``resumes`` the times the body was asked for
    again after a break (``reopen``; without it a break fails the read at once).
    """

    def __init__(
        self,
        response: aiohttp.ClientResponse,
        descriptor: Descriptor,
        what: str,
        *,
        reopen: Reopen | None = None,
    ) -> None:
        self._response = response
        self._descriptor = descriptor
        self._what = what
        self._reopen = reopen
        self._hash = hashlib.sha256()
        self._skip = 0  # bytes to drop from the body: a resume the registry answered from the start
        self._stalled = 0
        self._resumed_at = -1
        self.received = 0
        self.resumes = 0
        self._done = False

    @property
    def size(self) -> int:
        return self._descriptor.size

    async def read(self, size: int = 1 << 20) -> bytes:
        if self._done:
            return b""
        parts: list[bytes] = []
        got = 0
        want = max(1, min(size, _READ_MIN))
        while got < want:
            try:
                chunk = await self._response.content.read(size - got)
            except _BROKEN as exc:
                await self._resume(exc)
                continue
            if not chunk:
                if self.received < self.size and not got:
                    await self._resume(None)  # ended early without an error: resumable the same way
                    continue
                break
            if self._skip:
                dropped = min(self._skip, len(chunk))
                self._skip -= dropped
                chunk = chunk[dropped:]
                if not chunk:
                    continue
            self._hash.update(chunk)
            self.received += len(chunk)
            if self.received > self.size:
                raise OversizedContent(f"{self._what}: more than the {self.size} bytes its descriptor says")
            parts.append(chunk)
            got += len(chunk)
        if got:
            return b"".join(parts) if len(parts) != 1 else parts[0]
        self._done = True  # the whole size arrived (a short body went through _resume)
        actual = "sha256:" + self._hash.hexdigest()
        if actual != self._descriptor.digest:
            raise DigestMismatch(self._what, self._descriptor.digest, actual)
        return b""

    async def _resume(self, cause: BaseException | None) -> None:
        """Ask for the rest of the blob; raise what the break means when resuming is over."""
        while True:
            self._stalled = self._stalled + 1 if self.received == self._resumed_at else 0
            if self._reopen is None or self.resumes >= MAX_RESUMES or self._stalled >= MAX_STALLED_RESUMES:
                self._done = True
                if isinstance(cause, TimeoutError):
                    raise RegistryUnavailable(
                        f"{self._what}: timed out after {self.received} bytes"
                    ) from cause
                raise TruncatedStream(self._what, self.received, self.size) from cause
            self.resumes += 1
            self._resumed_at = self.received
            self._response.close()  # the broken connection is not given back to the pool
            log.info(
                "%s: connection broke after %d of %d bytes (%s); resuming there",
                self._what,
                self.received,
                self.size,
                cause or "body ended early",
            )
            await asyncio.sleep(_RESUME_DELAY * 2**self._stalled)
            try:
                self._response = await self._reopen(self.received)
            except RegistryUnavailable as exc:  # not back yet: counts as a resume that brought nothing
                cause = exc
                continue
            status = self._response.status
            if status == 200:
                self._skip = self.received  # Range ignored: the blob again from its first byte
                return
            match = _CONTENT_RANGE.match(self._response.headers.get("Content-Range", ""))
            if status == 206 and match and int(match.group(1)) == self.received:
                self._skip = 0
                return
            # another answer (416, 5xx, a range elsewhere): try once more, or fail
