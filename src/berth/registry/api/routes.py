"""The /v2/ API as a route table: one named route per resource, its path regex and, per method, the
action a caller needs on the repository (None: decided by the handler, as for the catalog).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME = rf"(?P<name>{_COMPONENT}(?:/{_COMPONENT})*)"
_NAME_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_LOOKS_LIKE_REPO = re.compile(r"^/v2/(?P<name>.+?)/(?:manifests|blobs|tags|referrers)/")


class RouteName(enum.StrEnum):
    BASE = "base"
    CATALOG = "catalog"
    TAGS = "tags"
    MANIFEST = "manifest"
    BLOB = "blob"
    UPLOAD_START = "upload-start"
    UPLOAD = "upload"
    REFERRERS = "referrers"


@dataclass(frozen=True, slots=True)
class Route:
    name: RouteName
    pattern: re.Pattern[str]
    methods: dict[str, str | None]


ROUTES: list[Route] = [
    Route(RouteName.BASE, re.compile(r"^/v2/?$"), {"GET": None, "HEAD": None}),
    Route(RouteName.CATALOG, re.compile(r"^/v2/_catalog$"), {"GET": None}),
    Route(RouteName.TAGS, re.compile(rf"^/v2/{NAME}/tags/list$"), {"GET": "pull"}),
    Route(
        RouteName.MANIFEST,
        re.compile(rf"^/v2/{NAME}/manifests/(?P<reference>[^/]+)$"),
        {"GET": "pull", "HEAD": "pull", "PUT": "push", "DELETE": "delete"},
    ),
    Route(RouteName.UPLOAD_START, re.compile(rf"^/v2/{NAME}/blobs/uploads/?$"), {"POST": "push"}),
    Route(
        RouteName.UPLOAD,
        re.compile(rf"^/v2/{NAME}/blobs/uploads/(?P<upload_id>[^/]+)$"),
        {"GET": "push", "PATCH": "push", "PUT": "push", "DELETE": "push"},
    ),
    Route(
        RouteName.BLOB,
        re.compile(rf"^/v2/{NAME}/blobs/(?P<digest>[^/]+)$"),
        {"GET": "pull", "HEAD": "pull", "DELETE": "delete"},
    ),
    Route(RouteName.REFERRERS, re.compile(rf"^/v2/{NAME}/referrers/(?P<digest>[^/]+)$"), {"GET": "pull"}),
]


def match(path: str) -> tuple[Route, dict[str, str]] | None:
    """The first route whose pattern matches ``path``, with its parameters."""
    for route in ROUTES:
        m = route.pattern.match(path)
        if m:
            return route, m.groupdict()
    return None


def invalid_name(path: str) -> str | None:
    """The repository part of a path that failed to match only because the name is malformed."""
    m = _LOOKS_LIKE_REPO.match(path)
    return m.group("name") if m else None


def is_repository_name(name: str) -> bool:
    """Whether ``name`` is a valid repository name (distribution's grammar)."""
    return _NAME_RE.match(name) is not None
