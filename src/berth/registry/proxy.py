"""Pull-through cache: fetch what is missing from an upstream registry, keep it, and serve it.

Config ``proxy: {remote_url: https://upstream, username: U, password: P}``. In this mode the
registry is read-only for clients (pushes answer UNSUPPORTED, as distribution's proxy does); every
repository pulled through it is public. Tags are asked of the upstream on each pull (so they follow
upstream moves) and fall back to the cached copy when the upstream is unreachable; manifests by
digest and blobs are fetched once, verified against their digest, and then served locally.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp

from berth.errors import Unavailable
from berth.oci import mediatypes as mt
from berth.registry import digests

_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
_ACCEPT = ", ".join([mt.OCI_INDEX, mt.OCI_MANIFEST, mt.DOCKER_MANIFEST_LIST, mt.DOCKER_MANIFEST])
_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=10, sock_read=60)


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    remote_url: str
    username: str | None = None
    password: str | None = None


@dataclass(frozen=True, slots=True)
class FetchedManifest:
    media_type: str
    data: bytes
    digest: str


class UpstreamClient:
    """A minimal distribution client for the upstream: token or Basic auth, manifests and blobs."""

    def __init__(self, config: ProxyConfig) -> None:
        self._config = config
        self._base = config.remote_url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None
        self._tokens: dict[str, str] = {}
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _basic(self) -> aiohttp.BasicAuth | None:
        if self._config.username is None:
            return None
        return aiohttp.BasicAuth(self._config.username, self._config.password or "")

    async def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=_TIMEOUT)
        return self._session

    async def _authorize(self, repo: str, challenge: str) -> None:
        if challenge.lower().startswith("basic"):
            basic = self._basic()
            if basic is None:
                raise Unavailable("upstream wants Basic credentials; set proxy.username and proxy.password")
            self._tokens[repo] = basic.encode()
            return
        params = dict(_CHALLENGE_PARAM.findall(challenge))
        realm = params.get("realm")
        if not realm:
            raise Unavailable(f"upstream sent an unusable challenge: {challenge!r}")
        query = {"scope": f"repository:{repo}:pull"}
        if "service" in params:
            query["service"] = params["service"]
        session = await self._client()
        async with session.get(realm, params=query, auth=self._basic()) as resp:
            if resp.status != 200:
                raise Unavailable(f"upstream token endpoint answered {resp.status}")
            body = await resp.json(content_type=None)
        token = body.get("token") or body.get("access_token")
        if not isinstance(token, str):
            raise Unavailable("upstream token endpoint sent no token")
        self._tokens[repo] = f"Bearer {token}"

    async def _get(self, repo: str, path: str, headers: dict[str, str]) -> aiohttp.ClientResponse:
        session = await self._client()
        for _ in range(2):
            auth = self._tokens.get(repo)
            sent = {**headers, **({"Authorization": auth} if auth else {})}
            try:
                resp = await session.get(f"{self._base}/v2/{repo}/{path}", headers=sent)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise Unavailable(f"upstream {self._base} unreachable: {exc}") from exc
            if resp.status != 401:
                return resp
            challenge = resp.headers.get("WWW-Authenticate", "")
            resp.release()
            async with self._lock:
                await self._authorize(repo, challenge)
        return resp

    async def manifest(self, repo: str, reference: str) -> FetchedManifest | None:
        """The upstream's manifest, or None if it has none; Unavailable if it cannot be reached."""
        resp = await self._get(repo, f"manifests/{reference}", {"Accept": _ACCEPT})
        async with resp:
            if resp.status == 404:
                return None
            if resp.status != 200:
                raise Unavailable(f"upstream answered {resp.status} for {repo}:{reference}")
            data = await resp.read()
            media_type = resp.headers.get("Content-Type", "").split(";", 1)[0].strip()
        by_digest = digests.is_reference(reference)
        digest = digests.of_bytes_as(data, digests.algorithm_of(reference) if by_digest else "sha256")
        if by_digest and digest != reference:
            raise Unavailable(f"upstream sent a manifest that does not match {reference}")
        return FetchedManifest(media_type, data, digest)

    async def blob(self, repo: str, digest: str) -> AsyncIterator[bytes] | None:
        """The blob's bytes as a stream (the caller verifies them), or None if upstream has no such blob."""
        resp = await self._get(repo, f"blobs/{digest}", {})
        if resp.status == 404:
            resp.release()
            return None
        if resp.status != 200:
            resp.release()
            raise Unavailable(f"upstream answered {resp.status} for blob {digest}")

        async def stream() -> AsyncIterator[bytes]:
            async with resp:
                async for chunk in resp.content.iter_any():
                    yield chunk

        return stream()
