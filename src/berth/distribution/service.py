"""``RegistryService``: ``docker login`` and ``docker search`` as berthd does them (moby ``registry/``).

* ``login(credentials)`` checks a username/password (or identity token) against ``serveraddress`` — empty,
  ``docker.io`` or Docker Hub's ``https://index.docker.io/v1/`` mean the default registry — and returns
  the identity token the token server handed out (``""`` when none), as ``POST /auth`` answers it.
* ``search(term, …)`` splits ``localhost:5000/busy`` into registry and term (a first component with ``.``
  or ``:`` or equal to ``localhost`` is a registry), asks that registry's ``/v1/search``, and applies the
  ``is-official``/``stars`` filters daemon-side; ``is_automated`` is always false (API ≥ 1.44).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from berth.distribution.auth import Credentials
from berth.distribution.client import RegistryClient
from berth.distribution.resolver import Endpoint, RegistryResolver
from berth.errors import InvalidArgument

_HUB_ADDRESSES = frozenset({"", "docker.io", "index.docker.io", "registry-1.docker.io"})


def split_search_term(term: str) -> tuple[str, str]:
    """(registry domain, remote term): ``localhost:5000/busy`` → ("localhost:5000", "busy")."""
    first, sep, rest = term.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return "docker.io", term


def server_host(address: str) -> str:
    """``serveraddress`` of a login → registry domain (``docker.io`` for Docker Hub's spellings)."""
    text = address.strip()
    if "://" in text:
        text = urlsplit(text).netloc
    text = text.split("/", 1)[0]
    return "docker.io" if text in _HUB_ADDRESSES else text


class RegistryService:
    """Login and search against the registries ``resolver`` knows (module docstring)."""

    def __init__(
        self,
        *,
        resolver: RegistryResolver,
        client_factory: Callable[[Endpoint, Credentials], RegistryClient] | None = None,
    ) -> None:
        self._resolver = resolver
        self._client_factory = client_factory or (
            lambda endpoint, creds: RegistryClient(endpoint=endpoint, credentials=creds)
        )

    def _client(self, endpoint: Endpoint, creds: Credentials) -> RegistryClient:
        return self._client_factory(endpoint, creds)

    async def login(self, credentials: Credentials) -> str:
        """Verify ``credentials`` against their server; the identity token ("" if none). ``Unauthorized``
        when refused, ``Unavailable`` when the registry cannot be reached."""
        if not credentials.username and not credentials.identity_token:
            raise InvalidArgument("login requires a username")
        endpoint = self._resolver.endpoint(server_host(credentials.server_address))
        async with self._client(endpoint, credentials) as client:
            return await client.login()

    async def search(
        self,
        term: str,
        *,
        limit: int = 25,
        filters: Mapping[str, Sequence[str]] | None = None,
        credentials: Credentials | None = None,
    ) -> list[dict[str, Any]]:
        """``GET /images/search`` results: ``[{name, description, star_count, is_official, …}]``."""
        if not term:
            raise InvalidArgument("search term is required")
        if not 1 <= limit <= 100:
            raise InvalidArgument(f"limit {limit} is outside the range of [1, 100]")
        wanted_official, min_stars = _search_filters(filters or {})
        domain, remote = split_search_term(term)
        endpoint = self._resolver.endpoint(domain)
        async with self._client(endpoint, credentials or Credentials()) as client:
            results = await client.search(remote, limit)
        out: list[dict[str, Any]] = []
        for item in results:
            stars = int(item.get("star_count") or 0)
            official = bool(item.get("is_official"))
            if wanted_official is not None and official != wanted_official:
                continue
            if stars < min_stars:
                continue
            out.append(
                {
                    "name": str(item.get("name", "")),
                    "description": str(item.get("description") or ""),
                    "star_count": stars,
                    "is_official": official,
                    "is_automated": False,
                }
            )
        return out[:limit]


def _search_filters(filters: Mapping[str, Sequence[str]]) -> tuple[bool | None, int]:
    official: bool | None = None
    stars = 0
    for key, values in filters.items():
        if key == "is-official":
            for value in values:
                if value.lower() not in ("true", "false", "1", "0"):
                    raise InvalidArgument(f"invalid filter 'is-official={value}'")
                official = value.lower() in ("true", "1")
        elif key == "stars":
            for value in values:
                try:
                    stars = max(stars, int(value))
                except ValueError as exc:
                    raise InvalidArgument(f"invalid filter 'stars={value}'") from exc
        elif key == "is-automated":
            if any(value.lower() in ("true", "1") for value in values):
                stars = 1 << 62  # nothing is automated here (API >= 1.44): no result can match
        else:
            raise InvalidArgument(f"invalid filter '{key}'")
    return official, stars
