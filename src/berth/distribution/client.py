"""``RegistryClient``: the OCI distribution protocol (v2) plus Docker's v1 search, over aiohttp.

One client talks to one ``Endpoint`` with one set of ``Credentials``; it learns the registry's auth
challenge on the first ``401`` and then attaches tokens (cached per scope set) up front. Limits that keep
a hostile registry from hurting the daemon: manifests over ``MAX_MANIFEST_SIZE`` are refused, redirects
are bounded (``MAX_REDIRECTS``), every blob is checked against its descriptor's size and digest as it
streams, and any short, long or mis-hashed body raises before its bytes are trusted.

Usage::

    async with RegistryClient(endpoint=resolver.endpoint("localhost:5000"), credentials=creds) as c:
        fetched = await c.get_manifest("library/busybox", "latest")
        async with c.open_blob("library/busybox", layer) as blob:
            while chunk := await blob.read(1 << 20):
                ...                      # DigestMismatch / TruncatedStream raised by read() at the end
"""

from __future__ import annotations

import hashlib
import json
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from types import TracebackType
from typing import Any
from urllib.parse import urlencode, urljoin

import aiohttp

from berth.distribution.auth import Credentials, repository_scope
from berth.distribution.blobstream import BlobStream
from berth.distribution.errors import (
    BadCredentials,
    DigestMismatch,
    OversizedContent,
    RegistryProtocolError,
    RegistryUnavailable,
    TooManyRedirects,
)
from berth.distribution.resolver import Endpoint
from berth.distribution.tokens import MAX_REDIRECTS, Authorizer
from berth.distribution.wire import (
    MANIFEST_ACCEPT,
    MAX_MANIFEST_SIZE,
    FetchedManifest,
    host_platform,
    manifest_media_type,
    next_link,
    pick_platform,
    read_limited,
    status_error,
)
from berth.errors import InvalidArgument, NotFound, Unauthorized
from berth.oci.digest import Digest, is_digest, of_bytes
from berth.oci.image import Descriptor, Index

_USER_AGENT = "berth/0.1 (distribution client)"


class RegistryClient:
    """An async client of one registry endpoint (module docstring). Use as ``async with``."""

    def __init__(
        self,
        *,
        endpoint: Endpoint,
        credentials: Credentials | None = None,
        ssl_context: ssl.SSLContext | None = None,
        connect_timeout: float = 30.0,
        read_timeout: float = 120.0,
        max_connections: int = 16,
    ) -> None:
        self.endpoint = endpoint
        self.credentials = credentials or Credentials()
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout, sock_read=read_timeout)
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self.auth = Authorizer(host=endpoint.host, credentials=self.credentials, session=lambda: self.session)

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._max_connections, ssl=self._ssl)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                headers={"User-Agent": _USER_AGENT},
                auto_decompress=False,
            )
        return self._session

    def url(self, path: str) -> str:
        return self.endpoint.base_url + path

    # -- requests -------------------------------------------------------------------------------------
    @asynccontextmanager
    async def request(
        self,
        method: str,
        path_or_url: str,
        *,
        scopes: Sequence[str],
        headers: Mapping[str, str] | None = None,
        data: bytes | AsyncIterable[bytes] | None = None,
        what: str = "",
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """One authorised request; a 401 is answered once (token or Basic) and the request retried.

        Streaming bodies cannot be replayed: callers make sure auth is settled by an earlier request.
        """
        url = path_or_url if "://" in path_or_url else self.url(path_or_url)
        what = what or f"{method} {url}"
        for attempt in range(2):
            send = dict(headers or {})
            auth = await self.auth.authorization(scopes, fresh=attempt > 0)
            if auth:
                send["Authorization"] = auth
            try:
                async with self.session.request(
                    method, url, headers=send, data=data, max_redirects=MAX_REDIRECTS
                ) as resp:
                    retry = resp.status == 401 and attempt == 0 and not isinstance(data, AsyncIterable)
                    if retry and self.auth.learn(resp):
                        continue
                    yield resp
                    return
            except aiohttp.TooManyRedirects as exc:
                raise TooManyRedirects(f"{what}: too many redirects (more than {MAX_REDIRECTS})") from exc
            except aiohttp.ClientConnectorError as exc:
                raise RegistryUnavailable(f"{what}: {exc}") from exc
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                raise RegistryUnavailable(f"{what}: {exc}") from exc
            except TimeoutError as exc:
                raise RegistryUnavailable(f"{what}: timed out") from exc
        raise RegistryProtocolError(f"{what}: authentication loop")  # pragma: no cover - loop returns

    async def _expect(self, resp: aiohttp.ClientResponse, ok: Sequence[int], what: str) -> None:
        if resp.status not in ok:
            body = await resp.content.read(64 << 10)
            raise status_error(resp.status, body, what)

    # -- ping / login ---------------------------------------------------------------------------------
    async def ping(self) -> None:
        """``GET /v2/``: 200 or a 401 challenge means a v2 registry is there (the challenge is kept)."""
        what = f"registry {self.endpoint.host}"
        async with self.request("GET", "/v2/", scopes=[], what=what) as resp:
            if resp.status == 401:
                self.auth.learn(resp)
                return
            await self._expect(resp, (200,), what)

    async def login(self) -> str:
        """Check the credentials against the registry (moby ``loginV2``); returns an identity token
        when the token server hands out a refresh token, else ``""``. ``Unauthorized`` if refused."""
        what = f"login to {self.endpoint.host}"
        try:
            async with self.session.get(self.url("/v2/"), max_redirects=MAX_REDIRECTS) as resp:
                status = resp.status
                if status == 401:
                    self.auth.learn(resp)
                elif status != 200:
                    await self._expect(resp, (200,), what)
        except aiohttp.ClientError as exc:
            raise RegistryUnavailable(f"{what}: {exc}") from exc
        challenge = self.auth.challenge
        if status == 200 or challenge is None:
            return ""
        if challenge.scheme == "bearer":
            if not self.credentials.username and not self.credentials.identity_token:
                raise Unauthorized(f"{what}: a username and password are required")
            token = await self.auth.fetch_token(challenge, [], offline=True)
            return token.refresh_token
        async with self.request("GET", "/v2/", scopes=[], what=what) as resp:
            if resp.status == 401:
                raise BadCredentials(f"{what}: unauthorized: incorrect username or password")
            await self._expect(resp, (200,), what)
        return ""

    # -- manifests ------------------------------------------------------------------------------------
    async def get_manifest(
        self, repo: str, ref: str, *, accept: Sequence[str] = MANIFEST_ACCEPT
    ) -> FetchedManifest:
        """GET a manifest or index by tag or digest, verified (digest refs, ``Docker-Content-Digest``)."""
        what = f"manifest {repo}:{ref}" if not is_digest(ref) else f"manifest {repo}@{ref}"
        async with self.request(
            "GET",
            f"/v2/{repo}/manifests/{ref}",
            scopes=[repository_scope(repo, "pull")],
            headers={"Accept": ", ".join(accept)},
            what=what,
        ) as resp:
            if resp.status == 404:
                raise NotFound(f"{what}: manifest unknown")
            await self._expect(resp, (200,), what)
            length = resp.content_length
            if length is not None and length > MAX_MANIFEST_SIZE:
                raise OversizedContent(f"{what}: {length} bytes, over the {MAX_MANIFEST_SIZE} byte limit")
            data = await read_limited(resp, MAX_MANIFEST_SIZE, what)
            header_digest = resp.headers.get("Docker-Content-Digest", "")
            content_type = resp.headers.get("Content-Type", "").split(";", 1)[0].strip()
        digest = of_bytes(data)
        if is_digest(ref) and digest != ref:
            raise DigestMismatch(what, ref, digest)
        if header_digest and is_digest(header_digest) and header_digest != digest:
            raise DigestMismatch(what, header_digest, digest)
        found_type = manifest_media_type(data, content_type, what)
        return FetchedManifest(data, found_type, digest)

    async def head_manifest(self, repo: str, ref: str) -> Descriptor | None:
        """HEAD a manifest: its descriptor, or None if the registry does not have it."""
        what = f"manifest {repo}:{ref}"
        async with self.request(
            "HEAD",
            f"/v2/{repo}/manifests/{ref}",
            scopes=[repository_scope(repo, "pull")],
            headers={"Accept": ", ".join(MANIFEST_ACCEPT)},
            what=what,
        ) as resp:
            if resp.status == 404:
                return None
            await self._expect(resp, (200,), what)
            digest = resp.headers.get("Docker-Content-Digest", "")
            media_type = resp.headers.get("Content-Type", "").split(";", 1)[0].strip()
            size = resp.content_length or 0
        if not is_digest(digest):
            return None
        return Descriptor(media_type, Digest(digest), size)

    async def resolve_image(
        self, repo: str, ref: str, *, os_name: str | None = None, architecture: str | None = None
    ) -> tuple[FetchedManifest, FetchedManifest]:
        """(what ``ref`` names, the image manifest for this platform). For a plain manifest both are it;
        for an index the requested platform, else the host's, else linux/amd64; ``NotFound`` if none."""
        top = await self.get_manifest(repo, ref)
        if not top.is_index:
            return top, top
        want_os, want_arch = host_platform()
        want_os, want_arch = os_name or want_os, architecture or want_arch
        index = Index.from_bytes(top.data)
        chosen = pick_platform(index.manifests, want_os, want_arch)
        if chosen is None and not (os_name or architecture):
            chosen = pick_platform(index.manifests, "linux", "amd64")
        if chosen is None:
            raise NotFound(f"no matching manifest for {want_os}/{want_arch} in the manifest list entries")
        manifest = await self.get_manifest(repo, chosen.digest)
        if manifest.is_index:
            raise RegistryProtocolError(f"manifest {repo}@{chosen.digest}: an index inside an index")
        return top, manifest

    async def put_manifest(self, repo: str, ref: str, data: bytes, media_type: str) -> Digest:
        """PUT a manifest under a tag or its digest; returns its digest."""
        if len(data) > MAX_MANIFEST_SIZE:
            raise InvalidArgument(f"manifest of {len(data)} bytes is over the {MAX_MANIFEST_SIZE} byte limit")
        what = f"push of manifest {repo}:{ref}"
        async with self.request(
            "PUT",
            f"/v2/{repo}/manifests/{ref}",
            scopes=[repository_scope(repo, "pull", "push")],
            headers={"Content-Type": media_type},
            data=data,
            what=what,
        ) as resp:
            await self._expect(resp, (200, 201, 202), what)
        return of_bytes(data)

    async def list_tags(self, repo: str) -> list[str]:
        """Every tag of ``repo`` (follows ``Link`` pagination)."""
        tags: list[str] = []
        path: str | None = f"/v2/{repo}/tags/list"
        pages = 0
        while path and pages < 1000:
            pages += 1
            what = f"tags of {repo}"
            async with self.request("GET", path, scopes=[repository_scope(repo, "pull")], what=what) as resp:
                if resp.status == 404:
                    raise NotFound(f"repository {repo}: not found")
                await self._expect(resp, (200,), what)
                raw = await read_limited(resp, MAX_MANIFEST_SIZE, what)
                link = resp.headers.get("Link", "")
            try:
                doc = json.loads(raw)
            except ValueError as exc:
                raise RegistryProtocolError(f"{what}: invalid JSON answer") from exc
            listed = doc.get("tags") if isinstance(doc, dict) else None
            tags.extend(str(t) for t in (listed if isinstance(listed, list) else []))
            path = next_link(link, self.url(path)) if link else None
        return tags

    # -- blobs ----------------------------------------------------------------------------------------
    @asynccontextmanager
    async def open_blob(self, repo: str, descriptor: Descriptor) -> AsyncIterator[BlobStream]:
        """Stream a blob; the ``BlobStream`` checks size and digest as it reaches the end, and asks
        again with ``Range`` for the rest when the connection breaks on the way."""
        what = f"blob {descriptor.digest}"
        path = f"/v2/{repo}/blobs/{descriptor.digest}"
        scopes = [repository_scope(repo, "pull")]
        async with AsyncExitStack() as responses:
            resp = await responses.enter_async_context(self.request("GET", path, scopes=scopes, what=what))
            if resp.status == 404:
                raise NotFound(f"{what} of {repo}: blob unknown")
            await self._expect(resp, (200,), what)
            length = resp.content_length
            if length is not None and length > descriptor.size:
                raise OversizedContent(f"{what}: {length} bytes, but its descriptor says {descriptor.size}")

            async def reopen(offset: int) -> aiohttp.ClientResponse:
                # Through the redirect too: aiohttp sends the Range on to the object store's URL.
                ranged = self.request(
                    "GET", path, scopes=scopes, headers={"Range": f"bytes={offset}-"}, what=what
                )
                return await responses.enter_async_context(ranged)

            yield BlobStream(resp, descriptor, what, reopen=reopen)

    async def fetch_blob(self, repo: str, descriptor: Descriptor, *, limit: int = MAX_MANIFEST_SIZE) -> bytes:
        """A small blob (a config) in memory, verified; ``OversizedContent`` above ``limit``."""
        if descriptor.size > limit:
            raise OversizedContent(f"blob {descriptor.digest}: {descriptor.size} bytes, over {limit}")
        parts = []
        async with self.open_blob(repo, descriptor) as blob:
            while chunk := await blob.read(1 << 20):
                parts.append(chunk)
        return b"".join(parts)

    async def blob_exists(self, repo: str, digest: str) -> bool:
        """HEAD a blob: True when the repository has it."""
        what = f"blob {digest}"
        async with self.request(
            "HEAD", f"/v2/{repo}/blobs/{digest}", scopes=[repository_scope(repo, "pull", "push")], what=what
        ) as resp:
            if resp.status == 404:
                return False
            await self._expect(resp, (200,), what)
            return True

    async def mount_blob(self, repo: str, digest: str, from_repo: str) -> bool:
        """Cross-repository mount; True when the registry mounted it (201), False if it started an
        ordinary upload instead (the session is cancelled)."""
        what = f"mount of {digest} from {from_repo}"
        query = urlencode({"mount": digest, "from": from_repo})
        scopes = [repository_scope(repo, "pull", "push"), repository_scope(from_repo, "pull")]
        async with self.request(
            "POST", f"/v2/{repo}/blobs/uploads/?{query}", scopes=scopes, data=b"", what=what
        ) as resp:
            if resp.status == 201:
                return True
            if resp.status == 202:
                location = resp.headers.get("Location", "")
            else:
                await self._expect(resp, (201, 202), what)
                return False
        if location:
            url = urljoin(self.url(f"/v2/{repo}/blobs/uploads/"), location)
            async with self.request("DELETE", url, scopes=scopes, what=what):
                pass
        return False

    async def upload_blob(
        self, repo: str, body: bytes | AsyncIterable[bytes], *, digest: str | None = None
    ) -> tuple[Digest, int]:
        """POST a session, PATCH the bytes (streamed), PUT ``?digest=``. For a stream without a known
        digest the digest is computed on the way. Returns (digest, size)."""
        what = f"upload to {repo}"
        scopes = [repository_scope(repo, "pull", "push")]
        async with self.request(
            "POST", f"/v2/{repo}/blobs/uploads/", scopes=scopes, data=b"", what=what
        ) as resp:
            await self._expect(resp, (202,), what)
            location = resp.headers.get("Location", "")
        if not location:
            raise RegistryProtocolError(f"{what}: no Location in the upload answer")
        base = self.url(f"/v2/{repo}/blobs/uploads/")
        hasher = hashlib.sha256()
        counted = [0]

        async def hashed(source: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
            async for chunk in source:
                hasher.update(chunk)
                counted[0] += len(chunk)
                yield chunk

        if isinstance(body, bytes):
            hasher.update(body)
            counted[0] = len(body)
            data: bytes | AsyncIterable[bytes] = body
        else:
            data = hashed(body)
        async with self.request(
            "PATCH",
            urljoin(base, location),
            scopes=scopes,
            headers={"Content-Type": "application/octet-stream"},
            data=data,
            what=what,
        ) as resp:
            await self._expect(resp, (202, 204), what)
            location = resp.headers.get("Location", "") or location
        actual = Digest("sha256:" + hasher.hexdigest())
        if digest is not None and digest != actual:
            raise DigestMismatch(f"{what}: local content", digest, actual)
        url = urljoin(base, location)
        url += ("&" if "?" in url else "?") + urlencode({"digest": actual})
        async with self.request(
            "PUT", url, scopes=scopes, headers={"Content-Length": "0"}, data=b"", what=what
        ) as resp:
            await self._expect(resp, (201, 204), what)
        return actual, counted[0]

    # -- search (v1) ----------------------------------------------------------------------------------
    async def search(self, term: str, limit: int = 25) -> list[dict[str, Any]]:
        """Docker Hub's ``GET /v1/search`` on this registry; the ``results`` list."""
        what = f"search on {self.endpoint.host}"
        headers = {"X-Docker-Token": "true"}
        scopes = ["registry:catalog:search"]
        creds = self.credentials
        if creds.username and creds.password:
            basic = creds.basic_header()
            if basic:
                headers["Authorization"] = basic
        elif creds.identity_token or creds.registry_token:
            await self.ping()
            auth = await self.auth.authorization(scopes)
            if auth:
                headers["Authorization"] = auth
        query = urlencode({"q": term, "n": str(max(1, min(limit, 100)))})
        try:
            async with self.session.get(
                self.url(f"/v1/search?{query}"), headers=headers, max_redirects=MAX_REDIRECTS
            ) as resp:
                if resp.status != 200:
                    raise RegistryProtocolError(f"Unexpected status code {resp.status}")
                raw = await read_limited(resp, MAX_MANIFEST_SIZE, what)
        except aiohttp.TooManyRedirects as exc:
            raise TooManyRedirects(f"{what}: too many redirects") from exc
        except aiohttp.ClientError as exc:
            raise RegistryUnavailable(f"{what}: {exc}") from exc
        try:
            doc = json.loads(raw)
        except ValueError as exc:
            raise RegistryProtocolError(f"{what}: invalid JSON answer") from exc
        results = doc.get("results") if isinstance(doc, dict) else None
        return [r for r in results if isinstance(r, dict)] if isinstance(results, list) else []
