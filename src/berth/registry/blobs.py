"""BlobStore: verified content addressed by digest, and the per-repository links that expose it.

A blob becomes visible only through ``publish`` (or ``put_bytes`` for small content such as
manifests), after its bytes were checked against its digest. Publishing is one atomic ``move`` inside
a metadata write transaction, so gc (which unlinks inside the same kind of transaction) can never
remove a blob that a concurrent push is publishing. Every new link is first put to ``admit`` (the
namespace quota, ``policy.quotas``) in that same transaction, so a refusal leaves nothing behind.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from berth.registry.metadata import MetadataDB
from berth.registry.storage import paths
from berth.registry.storage.driver import StorageDriver
from berth.registry.storage.s3 import S3Driver

# A HEAD/GET refreshes a blob's ``touched`` time at most this often (gc keeps recently touched blobs).
_TOUCH_EVERY = 60.0

#: (repo, digest, size) -> None, or raises to refuse the link (QuotaExceeded).
Admission = Callable[[str, str, int], None]


def _admit_all(repo: str, digest: str, size: int) -> None:
    return None


class BlobStore:
    """Blobs in a StorageDriver, indexed by the ``blobs`` and ``repo_blobs`` tables."""

    def __init__(
        self,
        driver: StorageDriver,
        db: MetadataDB,
        *,
        admit: Admission = _admit_all,
        redirect: Callable[[str], str] | None = None,
    ) -> None:
        self.driver = driver
        self.db = db
        self._admit = admit
        self._redirect = redirect  # storage.s3.redirect: a presigned URL for a blob's driver path

    def size(self, digest: str) -> int | None:
        """Size of a published blob anywhere in the registry, or None."""
        row = self.db.query_one("SELECT size FROM blobs WHERE digest = ?", (digest,))
        return None if row is None else int(row["size"])

    def linked_size(self, repo: str, digest: str) -> int | None:
        """Size of a blob ``repo`` may serve, or None (missing, or not linked to this repository)."""
        row = self.db.query_one(
            "SELECT b.size, b.touched FROM blobs b JOIN repo_blobs l ON l.digest = b.digest "
            "WHERE l.repo = ? AND b.digest = ?",
            (repo, digest),
        )
        if row is None:
            return None
        if time.time() - float(row["touched"]) > _TOUCH_EVERY:
            self.db.execute("UPDATE blobs SET touched = ? WHERE digest = ?", (time.time(), digest))
        return int(row["size"])

    def link(self, repo: str, digest: str) -> bool:
        """Expose an existing blob in ``repo`` (cross-repository mount). False if the blob is unknown."""
        with self.db.write():
            size = self.size(digest)
            if size is None:
                return False
            self._admit_new_link(repo, digest, size)
            self.db.execute("UPDATE blobs SET touched = ? WHERE digest = ?", (time.time(), digest))
            self.db.execute(
                "INSERT INTO repo_blobs (repo, digest) VALUES (?, ?) ON CONFLICT DO NOTHING", (repo, digest)
            )
        return True

    def _admit_new_link(self, repo: str, digest: str, size: int) -> None:
        linked = self.db.query_one("SELECT 1 FROM repo_blobs WHERE repo = ? AND digest = ?", (repo, digest))
        if linked is None:
            self._admit(repo, digest, size)

    def unlink(self, repo: str, digest: str) -> bool:
        """Remove ``repo``'s link (the bytes stay until gc). False if it was not linked."""
        return self.db.execute("DELETE FROM repo_blobs WHERE repo = ? AND digest = ?", (repo, digest)) > 0

    def publish(self, repo: str, source: str, digest: str, size: int) -> None:
        """Move verified bytes at driver path ``source`` into place and link them to ``repo``.

        Idempotent: if the blob already exists, ``source`` is deleted and only the link is added.
        """
        now = time.time()
        with self.db.write():
            self._admit_new_link(repo, digest, size)  # before the move: a refusal leaves no file
            if self.size(digest) is None:
                self.driver.move(source, paths.blob_data(digest))
                self.db.execute(
                    "INSERT INTO blobs (digest, size, touched) VALUES (?, ?, ?) ON CONFLICT (digest) DO UPDATE "
                    "SET size = excluded.size, touched = excluded.touched",
                    (digest, size, now),
                )
            else:
                self.db.execute("UPDATE blobs SET touched = ? WHERE digest = ?", (now, digest))
            self.db.execute(
                "INSERT INTO repo_blobs (repo, digest) VALUES (?, ?) ON CONFLICT DO NOTHING", (repo, digest)
            )

    def put_bytes(self, repo: str, digest: str, data: bytes) -> None:
        """Store small content the caller already verified (manifests) and link it to ``repo``."""
        now = time.time()
        with self.db.write():
            self._admit_new_link(repo, digest, len(data))
            if self.size(digest) is None:
                self.driver.put_content(paths.blob_data(digest), data)
                self.db.execute(
                    "INSERT INTO blobs (digest, size, touched) VALUES (?, ?, ?) ON CONFLICT (digest) DO UPDATE "
                    "SET size = excluded.size, touched = excluded.touched",
                    (digest, len(data), now),
                )
            self.db.execute(
                "INSERT INTO repo_blobs (repo, digest) VALUES (?, ?) ON CONFLICT DO NOTHING", (repo, digest)
            )

    def get_bytes(self, digest: str) -> bytes:
        """The whole content of a (small) blob; PathNotFound if its bytes are gone."""
        return self.driver.get_content(paths.blob_data(digest))

    def redirect_url(self, digest: str) -> str | None:
        """Where a client may fetch the blob's bytes straight from the object store (None: from us)."""
        return None if self._redirect is None else self._redirect(paths.blob_data(digest))

    @property
    def remote(self) -> bool:
        """The driver's calls wait on the network: the async layer runs them in threads."""
        return isinstance(self.driver, S3Driver)

    def local_path(self, digest: str) -> Path | None:
        return self.driver.local_path(paths.blob_data(digest))

    def reader(self, digest: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        return self.driver.reader(paths.blob_data(digest), offset, length)
