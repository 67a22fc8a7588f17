"""Hub: descriptions, stars and pull counts of the repositories, and a repository's hub record."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from berth.registry.blobs import BlobStore
from berth.registry.hub.descriptions import Descriptions
from berth.registry.hub.pulls import ALL, PullCounts
from berth.registry.hub.stars import Stars
from berth.registry.manifests import ManifestService, parse
from berth.registry.metadata import MetadataDB
from berth.registry.repositories import RepositoryInfo


def rfc3339(timestamp: float | None) -> str | None:
    if not timestamp:
        return None
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Hub:
    """The hub's parts over one metadata database."""

    def __init__(self, db: MetadataDB, blobs: BlobStore, manifests: ManifestService) -> None:
        self._db = db
        self._manifests = manifests
        self.descriptions = Descriptions(db, blobs)
        self.stars = Stars(db)
        self.pulls = PullCounts(db)

    def pushed(self, repo: str, data: bytes, content_type: str | None) -> None:
        """After a manifest push: its time, and the description it may carry."""
        self._db.execute("UPDATE repositories SET last_pushed = ? WHERE name = ?", (time.time(), repo))
        self.descriptions.pushed(repo, parse(data, content_type))

    def popularity(self) -> dict[str, tuple[int, int]]:
        """Repository -> (stars, pulls), for ranking search results."""
        stars, pulls = self.stars.counts(), self.pulls.totals()
        return {name: (stars.get(name, 0), pulls.get(name, 0)) for name in stars.keys() | pulls.keys()}

    def record(self, info: RepositoryInfo, *, viewer: str | None = None) -> dict[str, Any]:
        """``GET /api/v1/repositories/NAME``: the repository's hub fields and its tags."""
        pulls = self.pulls.of(info.name)
        row = self._db.query_one("SELECT readme, last_pushed FROM repositories WHERE name = ?", (info.name,))
        tags = []
        for detail in self._manifests.tag_details(info.name):
            count, last = pulls.get(str(detail["tag"]), (0, None))
            tags.append(
                {
                    "name": detail["tag"],
                    "digest": detail["digest"],
                    "pull_count": count,
                    "last_pushed": rfc3339(detail["updated"]),
                    "last_pulled": rfc3339(last),
                }
            )
        total, last_pulled = pulls.get(ALL, (0, None))
        record: dict[str, Any] = {
            "name": info.name,
            "description": info.description,
            "readme": str(row["readme"]) if row else "",
            "star_count": self.stars.count(info.name),
            "pull_count": total,
            "last_pushed": rfc3339(row["last_pushed"] if row else None),
            "last_pulled": rfc3339(last_pulled),
            "visibility": info.visibility,
            "tags": tags,
        }
        if viewer is not None:
            record["starred"] = self.stars.starred(info.name, viewer)
        return record
