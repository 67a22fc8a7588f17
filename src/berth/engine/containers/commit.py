"""``docker commit``: a new image from a container's changes (moby ``daemon/commit.go``).

The container's snapshot diff (an OCI layer tar with whiteouts) becomes one layer on top of the
container's image. The new image's ``config`` is the request's Config with ``--change`` instructions
applied, then completed from the container's Config (moby's ``merge``). A running container is paused
while its diff is taken when ``pause`` is true (the default), as Docker does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tarfile
import tempfile
from collections.abc import Sequence
from typing import Any, BinaryIO

from berth.engine.containers.container import Container, ContainerStatus
from berth.engine.containers.service import ContainerService
from berth.engine.events import EventBus
from berth.engine.images import ImageRecord, ImageService
from berth.errors import Conflict, InvalidArgument
from berth.oci.image import apply_changes
from berth.store.unpack import stream_members

# Files the runtime bind-mounts over the rootfs: when the snapshot only holds their empty mount points,
# they are not the container's changes (Docker keeps them in its "-init" layer).
_MOUNT_POINT_FILES = ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf")


def merge_config(user: dict[str, Any], container: dict[str, Any]) -> dict[str, Any]:
    """moby's ``merge(userConf, imageConf)``: fill what the request left empty from the container."""
    out = dict(user)
    if not out.get("User"):
        out["User"] = container.get("User") or ""
    ports = dict(out.get("ExposedPorts") or {})
    for port in container.get("ExposedPorts") or {}:
        ports.setdefault(port, {})
    out["ExposedPorts"] = ports or None
    env = list(out.get("Env") or [])
    keys = {e.split("=", 1)[0] for e in env}
    env.extend(e for e in container.get("Env") or [] if e.split("=", 1)[0] not in keys)
    out["Env"] = env or None
    labels = dict(out.get("Labels") or {})
    for key, value in (container.get("Labels") or {}).items():
        labels.setdefault(key, value)
    out["Labels"] = labels
    if not out.get("Entrypoint"):
        if not out.get("Cmd"):
            out["Cmd"] = container.get("Cmd")
        if out.get("Entrypoint") is None:
            out["Entrypoint"] = container.get("Entrypoint")
    if container.get("Healthcheck") and not out.get("Healthcheck"):
        out["Healthcheck"] = container["Healthcheck"]
    if not out.get("WorkingDir"):
        out["WorkingDir"] = container.get("WorkingDir") or ""
    volumes = dict(out.get("Volumes") or {})
    for volume in container.get("Volumes") or {}:
        volumes.setdefault(volume, {})
    out["Volumes"] = volumes or None
    if not out.get("StopSignal") and container.get("StopSignal"):
        out["StopSignal"] = container["StopSignal"]
    for key in ("Tty", "OpenStdin", "StdinOnce", "AttachStdin", "AttachStdout", "AttachStderr"):
        out.setdefault(key, False)
    out.setdefault("Hostname", "")
    out.setdefault("Domainname", "")
    return out


def _without_mount_points(source: BinaryIO, out: BinaryIO) -> None:
    """Copy a layer tar, leaving out the empty mount point files of the runtime's bind mounts."""
    skip = {p.lstrip("/") for p in _MOUNT_POINT_FILES}
    with (
        tarfile.open(fileobj=source, mode="r|") as reader,
        tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as writer,
    ):
        for member in stream_members(reader):
            if member.isreg() and member.size == 0 and member.name.lstrip("./") in skip:
                continue
            writer.addfile(member, reader.extractfile(member) if member.isreg() else None)


class CommitService:
    """Creates images from containers; one instance per daemon."""

    def __init__(self, *, containers: ContainerService, images: ImageService, events: EventBus) -> None:
        self._containers = containers
        self._images = images
        self._events = events

    async def commit(
        self,
        ref: str,
        *,
        repo: str = "",
        tag: str = "",
        author: str = "",
        comment: str = "",
        pause: bool = True,
        changes: Sequence[str] = (),
        config: dict[str, Any] | None = None,
    ) -> ImageRecord:
        container = self._containers.get(ref)
        if container.status == ContainerStatus.DEAD:
            raise Conflict(f"You cannot commit container {container.container_id} which is Dead")
        if container.status == ContainerStatus.REMOVING:
            raise Conflict(f"cannot commit container {container.container_id}: removal in progress")
        if tag and not repo:
            raise InvalidArgument("invalid reference format: repository name must be given with a tag")
        new_config = merge_config(apply_changes(dict(config or {}), list(changes)), container.config)
        history: dict[str, Any] = {"created_by": " ".join(container.config.get("Cmd") or [])}
        if author:
            history["author"] = author
        if comment:
            history["comment"] = comment
        record = await self.image_of(container, new_config, history, repo=repo, tag=tag, pause=pause)
        attributes = {
            "name": container.name.removeprefix("/"),
            "image": container.image,
            "comment": comment,
            "imageID": record.image_id,
        }
        if repo:
            attributes["imageRef"] = f"{repo}:{tag or 'latest'}"
        self._events.publish("container", "commit", container.container_id, attributes)
        return record

    async def image_of(
        self,
        container: Container,
        config: dict[str, Any],
        history: dict[str, Any],
        *,
        repo: str = "",
        tag: str = "",
        pause: bool = False,
    ) -> ImageRecord:
        """A new image: the container's image plus its changes as one layer (none if it changed
        nothing), with exactly this ``config`` section. For ``commit`` and each builder step."""
        fd, layer_path = tempfile.mkstemp(prefix="commit-", dir=container.directory)
        os.close(fd)
        try:
            has_changes = await self._write_diff(container, layer_path, pause)
            return await asyncio.to_thread(
                self._create, layer_path if has_changes else None, container, config, history, repo, tag
            )
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(layer_path)

    async def _write_diff(self, container: Container, path: str, pause: bool) -> bool:
        paused_here = False
        if pause and container.status == ContainerStatus.RUNNING:
            with contextlib.suppress(Conflict):
                await self._containers.pause(container.container_id)
                paused_here = True
        try:
            return await asyncio.to_thread(self._diff, container, path)
        finally:
            if paused_here:
                with contextlib.suppress(Conflict):
                    await self._containers.unpause(container.container_id)

    def _diff(self, container: Container, path: str) -> bool:
        snapshotter = self._images.snapshotter
        changes = snapshotter.changes(container.snapshot_key)
        if not [c for c in changes if not self._is_mount_point(container, c[0])]:
            return False
        raw = path + ".raw"
        try:
            with open(raw, "wb") as out:
                snapshotter.diff(container.snapshot_key, out, self._containers.id_shift(container))
            with open(raw, "rb") as source, open(path, "wb") as out:
                _without_mount_points(source, out)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(raw)
        return True

    def _is_mount_point(self, container: Container, path: str) -> bool:
        """Whether ``path`` is a runtime-made mount point (an empty file of the bind mounts, or /etc)."""
        if path == "/etc":
            return True
        if path not in _MOUNT_POINT_FILES:
            return False
        try:
            return (
                self._images.snapshotter.fs(container.snapshot_key) / path.lstrip("/")
            ).stat().st_size == 0
        except OSError:
            return False

    def _create(
        self,
        layer_path: str | None,
        container: Container,
        config: dict[str, Any],
        history: dict[str, Any],
        repo: str,
        tag: str,
    ) -> ImageRecord:
        if layer_path is None:
            return self._images.create_image(
                None, parent=container.image_id, config=config, history=history, repo=repo, tag=tag
            )
        with open(layer_path, "rb") as layer:
            return self._images.create_image(
                layer, parent=container.image_id, config=config, history=history, repo=repo, tag=tag
            )
