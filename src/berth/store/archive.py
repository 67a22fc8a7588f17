"""Docker's image archive (``docker save``/``load``) read and written as a stream.

Since Engine 25 ``docker save`` writes an OCI image layout plus Docker's legacy index files::

    oci-layout                 {"imageLayoutVersion": "1.0.0"}
    index.json                 OCI index: one manifest per saved tag (io.containerd.image.name annotation)
    manifest.json              [{"Config": "blobs/sha256/…", "RepoTags": [...], "Layers": ["blobs/sha256/…"]}]
    repositories               {"busybox": {"latest": "<top layer hex>"}}
    blobs/sha256/<hex>         config, manifests and uncompressed layer tars

``read_archive`` accepts that, the older Docker format (``<id>/layer.tar``, ``<id>.json``, symlinked
duplicate layers) and plain OCI layouts, compressed or not. It never writes by archive path: every
file goes into the content store under its digest (``blobs/sha256/<hex>`` entries must match their
name), so hostile paths cannot escape anywhere.
"""

from __future__ import annotations

import hashlib
import io
import json
import posixpath
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, cast

from berth.errors import BerthError, Internal, InvalidArgument, is_disk_full
from berth.oci import mediatypes
from berth.oci.digest import Digest, hex_of, is_digest, of_bytes
from berth.oci.image import Descriptor, Index, Manifest, canonical_json
from berth.store.content import LocalContentStore
from berth.store.unpack import HostileLayer, decompressed, split_path, stream_members

_SMALL = 4 << 20
_KEEP_NAMES = ("manifest.json", "index.json", "repositories", "oci-layout")


@dataclass(slots=True)
class Archive:
    """What an archive held: each file's digest in the content store, small index files in memory."""

    files: dict[str, Digest] = field(default_factory=dict)
    small: dict[str, bytes] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    written: set[Digest] = field(default_factory=set)

    def digest(self, path: str) -> Digest:
        resolved = self._resolve(path)
        try:
            return self.files[resolved]
        except KeyError:
            raise InvalidArgument(f"invalid archive: {path!r} is referenced but missing") from None

    def _resolve(self, path: str) -> str:
        current = "/".join(split_path(path))
        for _ in range(40):
            if current in self.files:
                return current
            target = self.links.get(current)
            if target is None:
                return current
            current = target
        raise InvalidArgument(f"invalid archive: too many levels of links at {path!r}")


@dataclass(frozen=True, slots=True)
class LoadedImage:
    """One image found in an archive: its config blob, layer blobs (in order), names, manifest blob."""

    config: Digest
    layers: tuple[Digest, ...]
    repo_tags: tuple[str, ...]
    manifest: Digest | None


def read_archive(stream: BinaryIO, content: LocalContentStore) -> Archive:
    """Ingest every file of the (possibly compressed) archive into ``content``."""
    archive = Archive()
    try:
        reader, _ = decompressed(stream)
        with tarfile.open(fileobj=reader, mode="r|", bufsize=1 << 20) as tar:
            for member in stream_members(tar):
                try:
                    _ingest(tar, member, archive, content)
                except OSError as exc:
                    if not is_disk_full(exc):
                        raise
                    raise Internal(f"loading {member.name} of the archive: no space left on device") from exc
    except tarfile.ReadError as exc:
        raise _go_tar_error(exc) from exc
    except (tarfile.TarError, EOFError) as exc:
        raise InvalidArgument(f"invalid archive: {exc}") from exc
    return archive


def _go_tar_error(exc: tarfile.ReadError) -> BerthError:
    """dockerd's words (Go's archive/tar) for a body that is not a tar at all; a 400 here, where
    dockerd answers 500: the client sent the garbage, and the daemon did nothing wrong."""
    text = str(exc)
    if "truncated" in text or "unexpected end" in text:
        return InvalidArgument("unexpected EOF")
    if "invalid header" in text or "bad checksum" in text:
        return InvalidArgument("archive/tar: invalid tar header")
    return InvalidArgument(f"invalid archive: {text}")


def _ingest(
    tar: tarfile.TarFile, member: tarfile.TarInfo, archive: Archive, content: LocalContentStore
) -> None:
    try:
        parts = split_path(member.name)
    except HostileLayer as exc:
        raise InvalidArgument(f"invalid archive: entry {member.name!r}: {exc.reason}") from None
    path = "/".join(parts)
    if member.isdir() or not parts:
        return
    if member.issym():
        target = posixpath.normpath(posixpath.join(posixpath.dirname(path), member.linkname))
        if target.startswith("../") or target == ".." or member.linkname.startswith("/"):
            raise InvalidArgument(f"invalid archive: link {member.name!r} leads outside the archive")
        archive.links[path] = target
        return
    if member.islnk():
        archive.links[path] = "/".join(split_path(member.linkname))
        return
    if not member.isreg():
        raise InvalidArgument(f"invalid archive: entry {member.name!r} is not a regular file")
    source = tar.extractfile(member)
    if source is None:
        raise InvalidArgument(f"invalid archive: cannot read {member.name!r}")
    expected = None
    if len(parts) == 3 and parts[0] == "blobs" and parts[1] == "sha256":
        expected = "sha256:" + parts[2]
        if not is_digest(expected):
            raise InvalidArgument(f"invalid archive: {member.name!r} is not named by a sha256 digest")
    keep = member.size <= _SMALL and (path in _KEEP_NAMES or path.endswith(".json") or expected is not None)
    with content.writer() as writer:
        kept: list[bytes] = []
        while chunk := source.read(1 << 20):
            writer.write(chunk)
            if keep:
                kept.append(chunk)
        digest = writer.commit(expected)
    archive.files[path] = digest
    archive.written.add(digest)
    if keep and (path in _KEEP_NAMES or path.endswith(".json")):
        archive.small[path] = b"".join(kept)


def images_in(archive: Archive, content: LocalContentStore) -> list[LoadedImage]:
    """The images an archive describes: from manifest.json if present, else from the OCI index."""
    if "manifest.json" in archive.small:
        return list(_from_docker_manifest(archive))
    if "index.json" in archive.small:
        return list(_from_oci_index(archive, content, archive.small["index.json"]))
    raise InvalidArgument("invalid archive: neither manifest.json nor index.json found")


def _from_docker_manifest(archive: Archive) -> Iterator[LoadedImage]:
    try:
        entries = json.loads(archive.small["manifest.json"])
    except ValueError as exc:
        raise InvalidArgument(f"invalid archive: manifest.json: {exc}") from exc
    if not isinstance(entries, list):
        raise InvalidArgument("invalid archive: manifest.json must be a list")
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
            raise InvalidArgument("invalid archive: manifest.json entry without Config")
        layers = entry.get("Layers") or []
        tags = entry.get("RepoTags") or []
        if not isinstance(layers, list) or not isinstance(tags, list):
            raise InvalidArgument("invalid archive: manifest.json Layers and RepoTags must be lists")
        yield LoadedImage(
            archive.digest(entry["Config"]),
            tuple(archive.digest(str(layer)) for layer in layers),
            tuple(str(t) for t in tags),
            None,
        )


def _from_oci_index(
    archive: Archive, content: LocalContentStore, data: bytes, depth: int = 0
) -> Iterator[LoadedImage]:
    if depth > 4:
        raise InvalidArgument("invalid archive: index nesting too deep")
    index = Index.from_bytes(data)
    for desc in index.manifests:
        blob = archive.digest(f"blobs/sha256/{hex_of(desc.digest)}")
        if desc.media_type in mediatypes.INDEXES:
            yield from _from_oci_index(archive, content, content.read_bytes(blob), depth + 1)
            continue
        if desc.platform and (desc.platform.get("os", "linux") != "linux"):
            continue
        manifest = Manifest.from_bytes(content.read_bytes(blob))
        name = desc.annotations.get("io.containerd.image.name", "")
        yield LoadedImage(
            archive.digest(f"blobs/sha256/{hex_of(manifest.config.digest)}"),
            tuple(archive.digest(f"blobs/sha256/{hex_of(layer.digest)}") for layer in manifest.layers),
            (name,) if name else (),
            blob,
        )


# -- writing -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SavedLayer:
    """A layer to save: its diff_id, uncompressed size and a function opening its uncompressed tar."""

    diff_id: Digest
    tar_size: int
    open: Callable[[], BinaryIO]


@dataclass(frozen=True, slots=True)
class SavedImage:
    config: bytes
    layers: tuple[SavedLayer, ...]
    repo_tags: tuple[str, ...]  # familiar: busybox:latest
    full_names: tuple[str, ...]  # normalised, same order: docker.io/library/busybox:latest


def write_archive(out: BinaryIO, images: list[SavedImage]) -> None:
    """Write Docker's save format (module docstring) for ``images`` to ``out`` as one tar stream."""
    written: set[str] = set()
    index: list[Descriptor] = []
    legacy: list[dict[str, Any]] = []
    repositories: dict[str, dict[str, str]] = {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        _add_dir(tar, "blobs/")
        _add_dir(tar, "blobs/sha256/")
        for image in images:
            config_digest = of_bytes(image.config)
            _add_bytes(tar, written, config_digest, image.config)
            for layer in image.layers:
                _add_layer(tar, written, layer)
            manifest = Manifest(
                Descriptor(mediatypes.OCI_CONFIG, config_digest, len(image.config)),
                tuple(
                    Descriptor(mediatypes.OCI_LAYER_TAR, layer.diff_id, layer.tar_size)
                    for layer in image.layers
                ),
            ).to_bytes()
            manifest_digest = of_bytes(manifest)
            _add_bytes(tar, written, manifest_digest, manifest)
            if image.full_names:
                for familiar, full in zip(image.repo_tags, image.full_names, strict=True):
                    tag = familiar.rpartition(":")[2]
                    annotations = {"io.containerd.image.name": full, "org.opencontainers.image.ref.name": tag}
                    index.append(
                        Descriptor(mediatypes.OCI_MANIFEST, manifest_digest, len(manifest), annotations)
                    )
                    if image.layers:
                        repo = familiar.rpartition(":")[0]
                        repositories.setdefault(repo, {})[tag] = hex_of(image.layers[-1].diff_id)
            else:
                index.append(Descriptor(mediatypes.OCI_MANIFEST, manifest_digest, len(manifest)))
            legacy.append(
                {
                    "Config": f"blobs/sha256/{hex_of(config_digest)}",
                    "RepoTags": list(image.repo_tags) or None,
                    "Layers": [f"blobs/sha256/{hex_of(layer.diff_id)}" for layer in image.layers],
                }
            )
        _add_file(tar, "index.json", Index(tuple(index)).to_bytes())
        _add_file(tar, "manifest.json", canonical_json(legacy))
        _add_file(tar, "oci-layout", canonical_json({"imageLayoutVersion": mediatypes.OCI_LAYOUT_VERSION}))
        if repositories:
            _add_file(tar, "repositories", canonical_json(repositories))


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    tar.addfile(info)


def _add_file(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _add_bytes(tar: tarfile.TarFile, written: set[str], digest: str, data: bytes) -> None:
    if digest in written:
        return
    written.add(digest)
    _add_file(tar, f"blobs/sha256/{hex_of(digest)}", data)


class _Checked:
    """Reads exactly ``size`` bytes of an uncompressed layer and checks its diff_id afterwards."""

    def __init__(self, inner: BinaryIO, layer: SavedLayer) -> None:
        self._inner = inner
        self._layer = layer
        self._hash = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read(size)
        while 0 < len(data) < size:  # decompressors return short reads; tarfile takes them for EOF
            more = self._inner.read(size - len(data))
            if not more:
                break
            data += more
        self._hash.update(data)
        return data

    def finish(self) -> None:
        while chunk := self._inner.read(1 << 20):
            self._hash.update(chunk)
        actual = "sha256:" + self._hash.hexdigest()
        if actual != self._layer.diff_id:
            raise InvalidArgument(f"layer {self._layer.diff_id} is corrupt: its content hashes to {actual}")


def _add_layer(tar: tarfile.TarFile, written: set[str], layer: SavedLayer) -> None:
    if layer.diff_id in written:
        return
    written.add(layer.diff_id)
    info = tarfile.TarInfo(f"blobs/sha256/{hex_of(layer.diff_id)}")
    info.size = layer.tar_size
    info.mode = 0o644
    source = layer.open()
    try:
        checked = _Checked(source, layer)
        tar.addfile(info, cast(BinaryIO, checked))  # duck-typed reader
        checked.finish()
    finally:
        source.close()
