"""What ``images``, ``image inspect`` and ``history`` show: Docker's ImageSummary, ImageInspect and
history entries, from the store's records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from berth.engine.images.filters import labels_match, reference_match, until_time
from berth.engine.images.store import ImageRecord, ImageStore
from berth.errors import InvalidArgument
from berth.oci.image import diff_ids, format_rfc3339, parse_rfc3339


class ImageViews(ImageStore):
    """``list_images``, ``inspect`` and ``history``."""

    def list_images(
        self,
        all_images: bool = False,
        filters: Mapping[str, Sequence[str]] | None = None,
        digests: bool = False,
    ) -> list[dict[str, Any]]:
        """``GET /images/json`` entries (Docker's ImageSummary), newest first."""
        filters = dict(filters or {})
        for key in filters:
            if key not in ("dangling", "label", "label!", "reference", "before", "since", "until"):
                raise InvalidArgument(f"invalid filter '{key}'")
        records = self.records()
        before = [self.resolve(v).created for v in filters.get("before", [])]
        since = [self.resolve(v).created for v in filters.get("since", [])]
        until = until_time(filters.get("until", []))
        # Untagged parents of other images are build steps: shown only with --all, as Docker does.
        parents = set() if all_images else {r.parent for r in records if r.parent}
        in_use = self._in_use()
        out = []
        for record in sorted(records, key=lambda r: (-r.created, r.image_id)):
            if not record.repo_tags and record.image_id in parents:
                continue
            if "dangling" in filters:
                want = any(v.lower() in ("true", "1") for v in filters["dangling"])
                if want == bool(record.repo_tags):
                    continue
            if not labels_match(record.labels, filters):
                continue
            if before and not all(record.created < b for b in before):
                continue
            if since and not all(record.created > s for s in since):
                continue
            if until is not None and record.created >= until:
                continue
            tags, repo_digests = record.repo_tags, record.repo_digests
            if "reference" in filters:  # both lists narrowed, as dockerd's: rows of other names go
                patterns = filters["reference"]
                tags = [t for t in tags if any(reference_match(p, t) for p in patterns)]
                repo_digests = [d for d in repo_digests if any(reference_match(p, d) for p in patterns)]
                if not tags and not repo_digests:
                    continue
            out.append(self._summary(record, tags, repo_digests, len(in_use.get(record.image_id, ()))))
        return out

    @staticmethod
    def _summary(record: ImageRecord, tags: list[str], digests: list[str], containers: int) -> dict[str, Any]:
        return {
            "Id": record.image_id,
            "ParentId": record.parent,
            "RepoTags": tags,
            "RepoDigests": digests,
            "Created": record.created,
            "Size": record.size,
            "SharedSize": -1,
            "VirtualSize": record.size,
            "Labels": record.labels or {},
            "Containers": containers,
        }

    def inspect(self, name: str) -> dict[str, Any]:
        """``GET /images/{name}/json`` (Docker's ImageInspect)."""
        record = self.resolve(name)
        config = record.config
        container_config = _docker_container_config(config.get("config") or {})
        graph: dict[str, str] = {}
        if record.top_layer:
            fs_dirs = [
                str(self.snapshotter.fs(c)) for c in reversed(record.chain_ids) if self.snapshotter.exists(c)
            ]
            if fs_dirs:
                graph = {"MergedDir": "", "UpperDir": fs_dirs[0], "WorkDir": ""}
                if len(fs_dirs) > 1:
                    graph["LowerDir"] = ":".join(fs_dirs[1:])
        created = config.get("created") or format_rfc3339(record.created)
        return {
            "Id": record.image_id,
            "RepoTags": record.repo_tags,
            "RepoDigests": record.repo_digests,
            "Parent": record.parent,
            "Comment": config.get("comment", ""),
            "Created": created,
            "DockerVersion": config.get("docker_version", ""),
            "Author": config.get("author", ""),
            "Config": container_config,
            "Architecture": config.get("architecture", ""),
            **({"Variant": config["variant"]} if config.get("variant") else {}),
            "Os": config.get("os", ""),
            "Size": record.size,
            "VirtualSize": record.size,
            "GraphDriver": {"Name": "overlay2" if self.driver == "overlay" else "vfs", "Data": graph or None},
            "RootFS": {"Type": "layers", "Layers": [str(d) for d in diff_ids(config)]},
            "Metadata": {"LastTagTime": format_rfc3339(record.last_tag_time) if record.last_tag_time else ""},
        }

    def history(self, name: str) -> list[dict[str, Any]]:
        """``docker history``: newest first; the top entry carries the id and tags, the rest ``<missing>``."""
        record = self.resolve(name)
        entries = list(record.config.get("history") or [])
        sizes = [row.size if (row := self._index.layer(c)) else 0 for c in record.chain_ids]
        out: list[dict[str, Any]] = []
        layer = 0
        for entry in entries:
            size = 0
            if not entry.get("empty_layer") and layer < len(sizes):
                size = sizes[layer]
                layer += 1
            out.append(
                {
                    "Id": "<missing>",
                    "Created": int(parse_rfc3339(entry.get("created"))),
                    "CreatedBy": entry.get("created_by", ""),
                    "Tags": None,
                    "Size": size,
                    "Comment": entry.get("comment", ""),
                }
            )
        out.reverse()
        if out:
            out[0]["Id"] = record.image_id
            out[0]["Tags"] = record.repo_tags or None
        return out


def _docker_container_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The image's ``config`` section with the keys Docker always shows (null when unset)."""
    out: dict[str, Any] = {
        "Hostname": "",
        "Domainname": "",
        "User": "",
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "Tty": False,
        "OpenStdin": False,
        "StdinOnce": False,
        "Env": None,
        "Cmd": None,
        "Image": "",
        "Volumes": None,
        "WorkingDir": "",
        "Entrypoint": None,
        "OnBuild": None,
        "Labels": None,
    }
    out.update(config)
    return out
