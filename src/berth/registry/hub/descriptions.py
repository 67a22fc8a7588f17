"""A repository's short description and README: set by its owners, or taken on push from the image.

A push sets the description from the manifest's ``org.opencontainers.image.description`` annotation, or
else the image config's label of that name, unless an owner set one by hand (``source = 'manual'``);
clearing it by hand (an empty description) lets pushes set it again. Artifacts that refer to another
manifest (a ``subject``: signatures, SBOMs) never change it.
"""

from __future__ import annotations

import json
from typing import Any

from berth.errors import BerthError, InvalidArgument, NotFound
from berth.oci import mediatypes as mt
from berth.registry.blobs import BlobStore
from berth.registry.manifests import ParsedManifest
from berth.registry.metadata import MetadataDB
from berth.registry.repositories import NAME_RE

DESCRIPTION_KEY = "org.opencontainers.image.description"
MAX_DESCRIPTION = 512  # GHCR's limit for the annotation; Docker Hub's short description is 100
MAX_README = 25_000  # Docker Hub's limit for a repository's full description
_MAX_CONFIG = 4 << 20  # a config larger than this is not read for its label


class Descriptions:
    """The ``description``, ``description_source`` and ``readme`` columns of ``repositories``."""

    def __init__(self, db: MetadataDB, blobs: BlobStore) -> None:
        self._db = db
        self._blobs = blobs

    def set(self, repo: str, description: str | None, readme: str | None) -> None:
        """An owner's change (None: leave as it is). ``NotFound`` for a repository never pushed."""
        if description is not None:
            description = check_description(description)
        if readme is not None and len(readme) > MAX_README:
            raise InvalidArgument(f"readme is {len(readme)} characters; at most {MAX_README} are kept")
        if not NAME_RE.match(repo):
            raise InvalidArgument(f"invalid repository name {repo!r}")
        with self._db.write():
            if self._db.query_one("SELECT 1 FROM repositories WHERE name = ?", (repo,)) is None:
                raise NotFound(f"repository {repo} not found")
            if description is not None:
                self._db.execute(
                    "UPDATE repositories SET description = ?, description_source = ? WHERE name = ?",
                    (description, "manual" if description else "", repo),
                )
            if readme is not None:
                self._db.execute("UPDATE repositories SET readme = ? WHERE name = ?", (readme, repo))

    def readme(self, repo: str) -> str:
        row = self._db.query_one("SELECT readme FROM repositories WHERE name = ?", (repo,))
        return str(row["readme"]) if row else ""

    def pushed(self, repo: str, parsed: ParsedManifest) -> None:
        """Take the description a pushed manifest carries (module docstring)."""
        if parsed.subject is not None:
            return
        text = parsed.annotations.get(DESCRIPTION_KEY) or self._config_label(parsed)
        if not text:
            return
        text = " ".join(text.split())[:MAX_DESCRIPTION]
        self._db.execute(
            "UPDATE repositories SET description = ?, description_source = 'push' "
            "WHERE name = ? AND description_source != 'manual'",
            (text, repo),
        )

    def _config_label(self, parsed: ParsedManifest) -> str:
        if parsed.media_type not in mt.MANIFESTS or not parsed.blobs or parsed.blobs[0].size > _MAX_CONFIG:
            return ""
        try:
            config: Any = json.loads(self._blobs.get_bytes(parsed.blobs[0].digest))
        except (BerthError, ValueError):
            return ""  # an artifact whose config is not JSON carries no label
        labels = (config.get("config") or {}).get("Labels") if isinstance(config, dict) else None
        value = labels.get(DESCRIPTION_KEY) if isinstance(labels, dict) else None
        return value if isinstance(value, str) else ""


def check_description(text: str) -> str:
    """A description as set by hand: one line, at most ``MAX_DESCRIPTION`` characters."""
    text = text.strip()
    if "\n" in text or "\r" in text:
        raise InvalidArgument("the description is one line; put the rest in the README")
    if len(text) > MAX_DESCRIPTION:
        raise InvalidArgument(f"the description is {len(text)} characters; at most {MAX_DESCRIPTION}")
    return text
