"""``Authorizer``: one registry's auth state — its challenge, and bearer tokens cached per scope set.

It answers "which ``Authorization`` header for these scopes?" (fetching a token from the challenge's
realm when needed, NOTES.md §4) and learns challenges from ``401`` answers. ``RegistryClient`` owns one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from urllib.parse import urlencode

import aiohttp

from berth.distribution.auth import Challenge, Credentials, Token, merge_scopes, parse_challenges
from berth.distribution.errors import (
    BadCredentials,
    RegistryProtocolError,
    RegistryUnavailable,
    TooManyRedirects,
)
from berth.distribution.wire import status_error
from berth.errors import InvalidArgument, Unauthorized

MAX_REDIRECTS = 8


class Authorizer:
    """Auth state of one registry endpoint (module docstring). Tokens are fetched one at a time."""

    def __init__(
        self, *, host: str, credentials: Credentials, session: Callable[[], aiohttp.ClientSession]
    ) -> None:
        self.host = host
        self.credentials = credentials
        self._session = session
        self.challenge: Challenge | None = None
        self._tokens: dict[tuple[str, ...], Token] = {}
        self._lock = asyncio.Lock()

    async def authorization(self, scopes: Sequence[str], *, fresh: bool = False) -> str | None:
        """The ``Authorization`` value for ``scopes`` under the known challenge (None if none known)."""
        challenge = self.challenge
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            return self.credentials.basic_header()
        if challenge.scheme != "bearer":
            return None
        if self.credentials.registry_token:
            return "Bearer " + self.credentials.registry_token
        key = tuple(merge_scopes(scopes))
        async with self._lock:
            token = self._tokens.get(key)
            if token is None or not token.valid or fresh:
                token = await self.fetch_token(challenge, list(key))
                self._tokens[key] = token
        return "Bearer " + token.value

    async def fetch_token(self, challenge: Challenge, scopes: list[str], *, offline: bool = False) -> Token:
        realm = challenge.realm
        if not realm.startswith(("http://", "https://")):
            raise RegistryProtocolError(f"registry {self.host}: bad token realm {realm!r}")
        creds = self.credentials
        try:
            if creds.identity_token:
                form = {
                    "grant_type": "refresh_token",
                    "refresh_token": creds.identity_token,
                    "service": challenge.service,
                    "client_id": "berth",
                    "access_type": "offline",
                    "scope": " ".join(scopes),
                }
                ctx = self._session().post(realm, data=form, max_redirects=MAX_REDIRECTS)
            else:
                query: list[tuple[str, str]] = []
                if challenge.service:
                    query.append(("service", challenge.service))
                query.extend(("scope", s) for s in scopes)
                headers = {}
                basic = creds.basic_header()
                if basic:
                    headers["Authorization"] = basic
                if offline and creds.username:
                    query += [("offline_token", "true"), ("client_id", "docker"), ("account", creds.username)]
                sep = "&" if "?" in realm else "?"
                url = realm + (sep + urlencode(query) if query else "")
                ctx = self._session().get(url, headers=headers, max_redirects=MAX_REDIRECTS)
            async with ctx as resp:
                body = await resp.content.read(1 << 20)
                if resp.status in (401, 403):
                    if not creds.anonymous:
                        raise BadCredentials(f"unauthorized: incorrect username or password ({self.host})")
                    raise Unauthorized(f"unauthorized: authentication required ({self.host})")
                if resp.status != 200:
                    raise status_error(resp.status, body, f"token server {realm}")
        except aiohttp.TooManyRedirects as exc:
            raise TooManyRedirects(f"token server {realm}: too many redirects") from exc
        except aiohttp.ClientError as exc:
            raise RegistryUnavailable(f"token server {realm}: {exc}") from exc
        try:
            doc = json.loads(body)
        except ValueError as exc:
            raise RegistryProtocolError(f"token server {realm}: invalid JSON answer") from exc
        if not isinstance(doc, dict):
            raise RegistryProtocolError(f"token server {realm}: invalid answer")
        try:
            return Token.from_response(doc)
        except InvalidArgument as exc:
            raise RegistryProtocolError(f"token server {realm}: {exc}") from exc

    def learn(self, resp: aiohttp.ClientResponse) -> bool:
        """Remember the challenge of a 401; True if a retry with credentials may help."""
        challenges = parse_challenges(resp.headers.get("WWW-Authenticate", ""))
        for challenge in challenges:
            if challenge.scheme == "bearer" and challenge.realm:
                self.challenge = challenge
                return True
        for challenge in challenges:
            if challenge.scheme == "basic":
                self.challenge = challenge
                return self.credentials.basic_header() is not None
        return False
