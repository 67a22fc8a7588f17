"""What registry answers mean, independent of any connection: error bodies → Berth's categories, manifest
media types and platforms, ``Link`` pagination, bounded reads. ``client.RegistryClient`` is the only
caller that does I/O.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urljoin

import aiohttp

from berth.distribution.errors import (
    OversizedContent,
    RegistryProtocolError,
    RegistryUnavailable,
    TruncatedStream,
)
from berth.errors import BerthError, Forbidden, InvalidArgument, NotFound, Unauthorized
from berth.oci import mediatypes
from berth.oci.digest import Digest
from berth.oci.image import Descriptor, Manifest

MAX_MANIFEST_SIZE = 4 << 20
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}
MANIFEST_ACCEPT = (
    mediatypes.OCI_INDEX,
    mediatypes.OCI_MANIFEST,
    mediatypes.DOCKER_MANIFEST_LIST,
    mediatypes.DOCKER_MANIFEST,
)


def host_platform() -> tuple[str, str]:
    """(os, architecture) of this host in OCI spelling (``linux``, ``amd64``)."""
    machine = platform.machine()
    return "linux", _ARCH.get(machine, machine)


@dataclass(frozen=True, slots=True)
class FetchedManifest:
    """A manifest or index as fetched: its bytes, media type and digest (verified)."""

    data: bytes
    media_type: str
    digest: Digest

    @property
    def is_index(self) -> bool:
        return self.media_type in mediatypes.INDEXES


def error_message(body: bytes, status: int) -> str:
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        errors = doc.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            code = str(errors[0].get("code") or "").lower().replace("_", " ")
            message = str(errors[0].get("message") or "")
            return (
                f"{code}: {message}" if code and message and code not in message.lower() else message or code
            )
        for key in ("message", "error", "details"):
            if isinstance(doc.get(key), str):
                return str(doc[key])
    text = " ".join(body.decode("utf-8", "replace").split())  # one line, whatever the page's layout
    return text[:200] or f"HTTP {status}"


def status_error(status: int, body: bytes, what: str) -> BerthError:
    message = f"{what}: {error_message(body, status)}"
    if status == 401:
        return Unauthorized(message)
    if status == 403:
        return Forbidden(message)
    if status == 404:
        return NotFound(message)
    if status in (400, 405, 413, 415, 416):
        return InvalidArgument(message)
    if status >= 500:
        return RegistryUnavailable(f"{what}: registry answered HTTP {status}: {error_message(body, status)}")
    return RegistryProtocolError(f"{what}: unexpected HTTP {status}: {error_message(body, status)}")


async def read_limited(resp: aiohttp.ClientResponse, limit: int, what: str) -> bytes:
    parts: list[bytes] = []
    total = 0
    try:
        while chunk := await resp.content.read(1 << 16):
            total += len(chunk)
            if total > limit:
                raise OversizedContent(f"{what}: over the {limit} byte limit")
            parts.append(chunk)
    except aiohttp.ClientPayloadError as exc:
        raise TruncatedStream(what, total, resp.content_length or total) from exc
    if resp.content_length is not None and total < resp.content_length:
        raise TruncatedStream(what, total, resp.content_length)
    return b"".join(parts)


def manifest_media_type(data: bytes, content_type: str, what: str) -> str:
    """The manifest's media type: its ``mediaType`` field, which must agree with ``Content-Type``."""
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise RegistryProtocolError(f"{what}: invalid JSON") from exc
    if not isinstance(doc, dict):
        raise RegistryProtocolError(f"{what}: not a JSON object")
    field_type = doc.get("mediaType")
    if isinstance(field_type, str) and field_type:
        if content_type in mediatypes.MANIFESTS | mediatypes.INDEXES and content_type != field_type:
            raise RegistryProtocolError(
                f"{what}: Content-Type {content_type} does not match mediaType {field_type}"
            )
        media_type = field_type
    elif content_type in mediatypes.MANIFESTS | mediatypes.INDEXES:
        media_type = content_type
    elif "manifests" in doc:
        media_type = mediatypes.OCI_INDEX
    else:
        media_type = mediatypes.OCI_MANIFEST
    if doc.get("schemaVersion") == 1 or media_type.endswith("manifest.v1+prettyjws"):
        raise RegistryProtocolError(f"{what}: Docker schema 1 manifests are not supported")
    if media_type not in mediatypes.MANIFESTS | mediatypes.INDEXES:
        raise RegistryProtocolError(f"{what}: unsupported manifest media type {media_type}")
    return media_type


def pick_platform(entries: Sequence[Descriptor], os_name: str, arch: str) -> Descriptor | None:
    for entry in entries:
        plat = entry.platform or {}
        if plat.get("os") == os_name and plat.get("architecture") == arch:
            return entry
    return None


def next_link(header: str, current: str) -> str | None:
    """The ``rel="next"`` target of a ``Link`` header, as a URL."""
    for part in header.split(","):
        if 'rel="next"' in part and "<" in part and ">" in part:
            return urljoin(current, part[part.index("<") + 1 : part.index(">")])
    return None


def parse_manifest(fetched: FetchedManifest) -> Manifest:
    """The image manifest of ``fetched`` (InvalidArgument-type errors become protocol errors)."""
    try:
        return Manifest.from_bytes(fetched.data)
    except InvalidArgument as exc:
        raise RegistryProtocolError(f"manifest {fetched.digest}: {exc}") from exc
