"""Where every object lives in the registry's storage, and the layout of ``--root``.

    <root>/                                  --root (default /var/lib/berth-registry)
    ├── registry.db                          SQLite metadata: repositories, manifests, tags, blob links,
    │                                        uploads, accounts, teams, grants (schema in metadata.py)
    ├── auth/token.key                       ES256 private key (PEM, 0600) made on first start; signs tokens
    └── storage/                             the StorageDriver's root (FilesystemDriver)
        ├── blobs/<sha256|sha512>/<first two hex>/<hex>/data   verified content, immutable once moved here
        ├── uploads/<upload uuid>/data                  bytes of an upload session, appended by PATCH/PUT
        └── trash/<uuid>                                blobs gc has unlinked, deleted right after

Manifests are blobs too (their exact bytes are kept under ``blobs/``); which repository holds which
manifest, tag or blob is metadata, not layout, so a repository costs no files.
"""

from __future__ import annotations

from berth.oci.digest import hex_of

STORAGE_DIR = "storage"
DATABASE_FILE = "registry.db"
TOKEN_KEY_FILE = "auth/token.key"


def blob_data(digest: str) -> str:
    """``/blobs/<algorithm>/<first two hex>/<hex>/data`` (sha256 or sha512)."""
    algorithm = digest.split(":", 1)[0]
    hexpart = hex_of(digest)
    return f"/blobs/{algorithm}/{hexpart[:2]}/{hexpart}/data"


def upload_data(upload_id: str) -> str:
    """``/uploads/<uuid>/data``."""
    return f"/uploads/{upload_id}/data"


def upload_dir(upload_id: str) -> str:
    return f"/uploads/{upload_id}"


def trash(name: str) -> str:
    return f"/trash/{name}"


UPLOADS_ROOT = "/uploads"
BLOBS_ROOT = "/blobs"
TRASH_ROOT = "/trash"
