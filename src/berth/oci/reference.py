"""Image references: ``[REGISTRY/]NAME[:TAG|@DIGEST]`` with Docker's normalisation.

``busybox``, ``library/busybox`` and ``docker.io/library/busybox`` are one name. Berth has no Docker
Hub: the ``docker.io`` domain stands for "the default registry" and is shown without its prefix
(``familiar`` form), exactly as ``docker images`` shows Hub images.

    >>> r = parse("busybox")
    >>> (r.domain, r.path, r.tag, str(r), r.familiar)
    ('docker.io', 'library/busybox', 'latest', 'docker.io/library/busybox:latest', 'busybox:latest')
    >>> parse("localhost:5000/team/app@sha256:" + "a" * 64).domain
    'localhost:5000'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from berth.errors import InvalidArgument
from berth.oci.digest import Digest, is_digest

DEFAULT_DOMAIN = "docker.io"
DEFAULT_TAG = "latest"
_LEGACY_DOMAIN = "index.docker.io"
_OFFICIAL_PREFIX = "library/"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_PATH_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DOMAIN_RE = re.compile(r"^(?:[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$")


@dataclass(frozen=True, slots=True)
class Reference:
    """A parsed, normalised image reference. ``tag`` is None only when ``digest`` is set."""

    domain: str
    path: str
    tag: str | None = None
    digest: Digest | None = None

    @property
    def repository(self) -> str:
        """``domain/path`` — the full repository name, no tag or digest."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """The repository as users see it: ``busybox``, ``me/app``, ``localhost:5000/app``."""
        if self.domain == DEFAULT_DOMAIN:
            return self.path.removeprefix(_OFFICIAL_PREFIX)
        return self.repository

    @property
    def familiar(self) -> str:
        """The short form a listing shows: ``busybox:latest``, ``localhost:5000/app@sha256:…``."""
        return self.familiar_name + self._suffix()

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.domain, self.path, tag=tag)

    def _suffix(self) -> str:
        if self.digest:
            return (f":{self.tag}" if self.tag else "") + f"@{self.digest}"
        return f":{self.tag}" if self.tag else ""

    def __str__(self) -> str:
        return self.repository + self._suffix()


def split_domain(name: str) -> tuple[str, str]:
    """Split ``name`` into (domain, path) as Docker does: a first component with ``.`` or ``:`` or
    equal to ``localhost`` is a registry host; otherwise the name is on the default registry."""
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        domain, path = first, rest
    else:
        domain, path = DEFAULT_DOMAIN, name
    if domain == _LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = _OFFICIAL_PREFIX + path
    return domain, path


def parse(text: str, *, default_tag: bool = True) -> Reference:
    """Parse and normalise a reference; InvalidArgument names what is wrong with it.

    ``default_tag`` adds ``:latest`` when neither tag nor digest is given.
    """
    if not text or text != text.strip():
        raise InvalidArgument(f"invalid reference format: {text!r}")
    remainder, digest = text, None
    if "@" in remainder:
        remainder, _, digest_text = remainder.partition("@")
        if not is_digest(digest_text):
            raise InvalidArgument(f"invalid reference format: bad digest in {text!r}")
        digest = Digest(digest_text)
    tag = None
    last_slash = remainder.rfind("/")
    colon = remainder.rfind(":")
    if colon > last_slash:
        remainder, tag = remainder[:colon], remainder[colon + 1 :]
        if not _TAG_RE.match(tag):
            raise InvalidArgument(f"invalid reference format: bad tag in {text!r}")
    domain, path = split_domain(remainder)
    if not _DOMAIN_RE.match(domain) or not _PATH_RE.match(path):
        if path != path.lower():
            raise InvalidArgument(f"invalid reference format: repository name ({path}) must be lowercase")
        raise InvalidArgument(f"invalid reference format: {text!r}")
    if len(domain) + 1 + len(path) > 255:
        raise InvalidArgument(
            "invalid reference format: repository name must not be more than 255 characters"
        )
    if tag is None and digest is None and default_tag:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest)


def is_reference_like(text: str) -> bool:
    """True if ``text`` parses as a reference (used to tell names from ids)."""
    try:
        parse(text)
    except InvalidArgument:
        return False
    return True
