"""ContainerService: Docker's container verbs over an image store, a snapshotter and an OCI runtime.

Every verb takes the container's lock, refreshes what it knows, checks the transition
(``ContainerStatus``), then acts. A *monitor* task per running container waits for its exit, records
it, and applies ``--restart`` and ``--rm``. Containers keep running when berthd stops; ``restore()``
finds them again through the runtime (live restore).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import re
import shutil
import signal as signals
import stat
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from berth.engine.containers import archive, logconfig, mount_setup, mounts, names, namespaces, security, spec
from berth.engine.containers import create as creating
from berth.engine.containers import update as updating
from berth.engine.containers.container import (
    BUILD_STEP_LABEL,
    ZERO_TIME,
    Container,
    ContainerStatus,
    PendingAttach,
    now_rfc3339,
    parse_rfc3339,
)
from berth.engine.containers.health import HealthMonitor
from berth.engine.events import EventBus
from berth.engine.images import ImageService
from berth.engine.networks.service import NetworkService
from berth.engine.volumes import VolumeService, Wanted
from berth.errors import BerthError, Conflict, Internal, InvalidArgument, NotFound, NotModified, is_disk_full
from berth.runtime import LinuxRuntime
from berth.runtime.errors import ExecFailed
from berth.runtime.types import Attached, IOConfig, State, Status
from berth.store.snapshots import Kind
from berth.util.atomic import write_json
from berth.util.faults import crash_point
from berth.util.idshift import IdShift

log = logging.getLogger("berthd.containers")
_CONTAINER_ID = re.compile("[0-9a-f]{64}")

DEFAULT_STOP_TIMEOUT = 10
_MAX_RESTART_DELAY = 60.0
_KILL_WAIT = 10.0  # how long a SIGKILL's exit may take to be recorded (dockerd: 2 s + 10 s)


def parse_signal(value: str | int | None, default: int = signals.SIGKILL) -> int:
    """``"SIGTERM"``, ``"TERM"``, ``"15"`` or ``15`` → 15; InvalidArgument otherwise."""
    if value is None or value == "":
        return default
    if isinstance(value, int) or (value.isascii() and value.isdigit()):
        number = int(value)
        if not 0 < number < 65:
            raise InvalidArgument(f"invalid signal: {value}")
        return number
    name = value.upper()
    name = name if name.startswith("SIG") else "SIG" + name
    if name.startswith("SIGRTMIN+"):
        offset = name.removeprefix("SIGRTMIN+")
        if not (offset.isascii() and offset.isdigit()) or int(signals.SIGRTMIN) + int(offset) > int(
            signals.SIGRTMAX
        ):
            raise InvalidArgument(f"invalid signal: {value}")
        return int(signals.SIGRTMIN) + int(offset)
    try:
        return int(signals.Signals[name])
    except KeyError:
        raise InvalidArgument(f"invalid signal: {value}") from None


class ContainerService:
    def __init__(
        self,
        root: Path,
        *,
        images: ImageService,
        runtime: LinuxRuntime,
        events: EventBus,
        log_max_size: int,
        log_max_files: int,
        cgroup_parent: str,
        volumes: VolumeService,
        networks: NetworkService,
        seccomp_profile: str = "",
        userns_maps: security.UserMaps | None = None,
    ) -> None:
        self._root = root
        self._volumes = volumes  # named and anonymous volumes (engine/volumes.py)
        self._networks = networks  # bridges, addresses, published ports (engine/networks/)
        self._root.mkdir(parents=True, exist_ok=True, mode=0o710)
        self._images = images
        self.runtime = runtime
        self._events = events
        self._log_max_size = log_max_size
        self._log_max_files = log_max_files
        self._cgroup_parent = cgroup_parent
        self._seccomp_profile = seccomp_profile  # the daemon's --seccomp-profile ("": Docker's default)
        self.userns_maps = userns_maps  # the daemon's --userns-remap (None: containers share the host's ids)
        self._containers: dict[str, Container] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Healthchecks (engine/health.py): probing starts with the container and stops at its exit.
        self._health = HealthMonitor(runtime, self._publish)
        self._load_records()

    # ---------------------------------------------------------------- lookup

    def _load_records(self) -> None:
        """Read every record; at start nothing is under way, so what a killed daemon left of a create
        (a directory and snapshots, no record yet) is removed, as are snapshots of containers gone."""
        kept: set[str] = set()
        for directory in self._root.iterdir():
            try:
                container = Container.load(directory)
            except FileNotFoundError:
                log.warning("removing container %s: its create did not finish", directory.name)
                shutil.rmtree(directory, ignore_errors=True)
                continue
            except (OSError, ValueError) as exc:
                log.warning(
                    "skipping unreadable container record in %s: %s (see berth system check)", directory, exc
                )
                kept.add(directory.name)  # its files stay for the check's repair (lost+found)
                continue
            self._containers[container.container_id] = container
            kept.add(container.container_id)
        snapshotter = self._images.snapshotter
        for info in snapshotter.list():
            owner = info.key.partition("-image-")[0]  # a container's own key, or one of its image mounts
            if info.kind is not Kind.COMMITTED and _CONTAINER_ID.fullmatch(owner) and owner not in kept:
                log.warning("removing snapshot %s: its container is gone", info.key)
                with contextlib.suppress(NotFound, Conflict):
                    snapshotter.remove(info.key)

    def all(self) -> list[Container]:
        return list(self._containers.values())

    def get(self, ref: str) -> Container:
        """By full id, name (with or without ``/``), or unique id prefix — Docker's lookup order."""
        if ref in self._containers:
            return self._containers[ref]
        wanted = "/" + ref.removeprefix("/")
        for container in self._containers.values():
            if container.name == wanted:
                return container
        if ref:
            matches = [c for c in self._containers.values() if c.container_id.startswith(ref)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise InvalidArgument(f"multiple IDs found with provided prefix: {ref}")
        raise NotFound(f"No such container: {ref}")

    def counts(self) -> dict[str, int]:
        statuses = [c.status for c in self._containers.values()]
        return {
            "total": len(statuses),
            "running": statuses.count(ContainerStatus.RUNNING),
            "paused": statuses.count(ContainerStatus.PAUSED),
            "stopped": len(statuses)
            - statuses.count(ContainerStatus.RUNNING)
            - statuses.count(ContainerStatus.PAUSED),
        }

    def images_in_use(self, *, running_only: bool = False) -> Mapping[str, Sequence[str]]:
        """{image id: [ids of containers made from it]} (only running ones with ``running_only``)."""
        used: dict[str, list[str]] = {}
        for container in list(self._containers.values()):  # a copy: called from worker threads too
            if running_only and not container.status.is_alive():
                continue
            used.setdefault(container.image_id, []).append(container.container_id)
            with contextlib.suppress(BerthError, OSError, ValueError):  # images mounted with type=image
                for point in mounts.of(container):
                    if point.image_id and container.container_id not in used.get(point.image_id, []):
                        used.setdefault(point.image_id, []).append(container.container_id)
        return used

    def volume_users(self) -> Mapping[str, Sequence[str]]:
        """{volume name: [ids of containers that mount it]} — what makes a volume "in use"."""
        used: dict[str, list[str]] = {}
        for container in list(self._containers.values()):
            try:
                names_ = mounts.volume_names(container)
            except (BerthError, OSError, ValueError) as exc:  # an unreadable record: logged, not fatal
                log.warning("container %s: cannot read its mounts: %s", container.short_id, exc)
                continue
            for name in names_:
                used.setdefault(name, []).append(container.container_id)
        return used

    # ---------------------------------------------------------------- create

    async def create(
        self,
        body: dict[str, Any],
        name: str | None,
        *,
        platform: str = "",
        api_version: tuple[int, int] | None = None,
    ) -> Container:
        """``api_version``: the client's, for Docker's compatibility rules on mounts (mounts.py)."""
        image_name = body.get("Image") or ""
        if not image_name:
            raise InvalidArgument("config cannot be empty in order to create a container")
        image = self._images.resolve(image_name)
        creating.check_platform(platform, image_name, image.config)
        host = dict(body.get("HostConfig") or {})
        warnings = creating.validate_host_config(host)
        logconfig.normalize(host, default_max_size=self._log_max_size, default_max_files=self._log_max_files)
        security.validate(host, body)
        security.validate_userns(host, self.userns_maps)
        security.normalize(host)
        self._pin_namespace_peers(host)
        readonly_non_recursive = mounts.for_api_version(host, api_version)
        endpoints = self._networks.endpoints_for(host, body.get("NetworkingConfig"), body)
        taken = {c.name.removeprefix("/") for c in self._containers.values()}
        if name:
            name = names.validate(name)
            if name in taken:
                holder = self.get(name)
                raise Conflict(
                    f'Conflict. The container name "/{name}" is already in use by container '
                    f'"{holder.container_id}". You have to remove (or rename) that container to be able to reuse that name.'
                )
        else:
            name = names.generate(taken)
        container_id = creating.new_container_id()
        config = creating.merge_config(body, image.config)
        directory = self._root / container_id
        container = creating.new_record(
            directory, container_id, name, image_name, image.image_id, config, host
        )
        container.endpoints = endpoints
        container.warnings = warnings
        self._networks.register_links(container)  # HostConfig.Links: legacy links, or aliases
        directory.mkdir(mode=0o710)
        try:
            await asyncio.to_thread(self._prepare_files, container, image.top_layer, readonly_non_recursive)
        except BaseException:
            await asyncio.to_thread(self._discard_files, container)
            raise
        self._containers[container_id] = container
        self._publish(container, "create")
        return container

    def _prepare_files(
        self, container: Container, top_layer: str, readonly_non_recursive: bool = False
    ) -> None:
        container.snapshot_key = container.container_id
        self._images.snapshotter.prepare(container.snapshot_key, top_layer)
        creating.write_network_files(container)
        self._prepare_volumes(container, readonly_non_recursive)
        crash_point("container.before-record")
        container.save()

    def _volumes_from(self, ref: str) -> list[mounts.MountPoint]:
        try:
            return mounts.of(self.get(ref))
        except NotFound as exc:
            raise InvalidArgument(str(exc)) from exc  # Docker: a bad --volumes-from is the caller's (400)

    def _prepare_volumes(self, container: Container, readonly_non_recursive: bool = False) -> None:
        """Decide the container's mount points (engine/containers/mounts.py) and record them; create its
        volumes on first use and, as Docker does, copy the image's content at each mount path into a
        volume that is still empty; image mounts get a read-only snapshot view."""
        points = mounts.parse(
            container.config,
            container.host_config,
            container_id=container.container_id,
            volumes_from=self._volumes_from,
            daemon_root=str(self._root.parent),
            readonly_non_recursive=readonly_non_recursive,
        )
        created = self._volumes.ensure(_wanted(points))
        for name in created:
            self._events.publish("volume", "create", name, {"driver": "local"})
        views: list[str] = []
        try:
            for index, point in enumerate(points):
                if point.type == "image":
                    image = self._images.resolve(point.source)
                    key = mounts.image_key(container.container_id, point.destination)
                    self._images.snapshotter.view(key, image.top_layer)
                    views.append(key)
                    points[index] = dataclasses.replace(point, image_key=key, image_id=image.image_id)
            volumes_ = [p for p in points if p.type == "volume"]
            for point in volumes_:
                self._volumes.redo_copy(point.name)
            empty = [p for p in volumes_ if p.copy_data and not p.subpath and self._volumes.is_empty(p.name)]
            if volumes_:  # no volumes: no need to mount the rootfs (create stays fast)
                self._fill_volumes(container, empty, volumes_)
            mounts.save(container.directory, points)
        except BaseException:
            for key in views:
                with contextlib.suppress(BerthError, OSError):
                    self._images.snapshotter.remove(key)
            for name in created:  # the create failed: the volumes it made go with it
                with contextlib.suppress(BerthError, OSError):
                    self._volumes.remove(name)
            raise

    def _fill_volumes(
        self, container: Container, empty: Sequence[mounts.MountPoint], volumes_: Sequence[mounts.MountPoint]
    ) -> None:
        """Copy-up into ``empty`` volumes and make every volume's mount point in the rootfs."""
        rootfs = self._images.snapshotter.mounts(container.snapshot_key)
        with archive.container_root(0, rootfs, container.directory) as root_fd:
            for point in empty:
                try:
                    fd = archive.open_in_root(root_fd, point.destination)
                except OSError:
                    continue  # nothing in the image at that path
                try:
                    self._volumes.populate(point.name, Path(f"/proc/self/fd/{fd}"))
                finally:
                    os.close(fd)
            for point in volumes_:  # mount points exist from create on: ``cp`` into a created container
                if point.anonymous and not point.mode and _is_file(root_fd, point.destination):
                    # an image VOLUME (Config.Volumes: anonymous, no mode) over a file: Docker refuses it
                    raise InvalidArgument(
                        f"cannot mount volume over existing file, file exists {point.destination}"
                    )
                archive.make_dirs(root_fd, point.destination)

    def archive_binds(self, container: Container) -> list[dict[str, Any]]:
        """The binds and volumes to lay over a stopped container's rootfs for ``cp`` (archive route),
        with its /etc/hostname, hosts and resolv.conf as in Docker's ``mountVolumes``."""
        host_network = container.host_config.get("NetworkMode") == "host"
        files = [
            {"destination": f"/etc/{name}", "type": "bind", "source": str(container.directory / name),
             "options": ["rbind", "rw"]}
            for name in ("hostname", "hosts", "resolv.conf")
            if (container.directory / name).exists() and not (host_network and name == "hostname")
        ]  # fmt: skip
        return [*mount_setup.archive_binds(mounts.of(container), self._volumes.mountpoint), *files]

    def _remove_anonymous_volumes(self, container: Container) -> None:
        """``rm -v`` and ``--rm``: the container's anonymous volumes go too (named ones stay)."""
        with contextlib.suppress(BerthError, OSError, ValueError):
            for point in mounts.of(container):
                if point.type == "volume" and point.anonymous:
                    with contextlib.suppress(BerthError, OSError):  # in use elsewhere or already gone
                        self._volumes.remove(point.name)

    def _discard_files(self, container: Container) -> None:
        try:
            with contextlib.suppress(NotFound):
                self._images.snapshotter.remove(container.container_id)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            # A full disk (often this container's own log) refuses even the snapshot record's delete:
            # the container's files go first and free their room. A crash in between leaves the
            # snapshot of a container that is gone, which berthd removes at start.
            shutil.rmtree(container.directory, ignore_errors=True)
            with contextlib.suppress(NotFound):
                self._images.snapshotter.remove(container.container_id)
        crash_point("container.rm-before-record")
        with contextlib.suppress(BerthError, OSError, ValueError):  # image mounts' views
            for point in mounts.of(container):
                if point.image_key:
                    with contextlib.suppress(NotFound):
                        self._images.snapshotter.remove(point.image_key)
        shutil.rmtree(container.directory, ignore_errors=True)
        mounts.forget(container)

    # ---------------------------------------------------------------- start

    def _io_config(self, container: Container) -> IOConfig:
        config = container.config
        # HostConfig.ConsoleSize [h, w] sizes the pty before init runs (a program reading its size at
        # once must not see 0x0; the CLI's resize only follows start). Malformed values mean "unset".
        size = container.host_config.get("ConsoleSize") or [0, 0]
        height, width = (size if isinstance(size, list) and len(size) == 2 else [0, 0])[:2]
        log = logconfig.settings(
            container, default_max_size=self._log_max_size, default_max_files=self._log_max_files
        )
        return IOConfig(
            tty=bool(config.get("Tty")),
            open_stdin=bool(config.get("OpenStdin")),
            stdin_once=bool(config.get("StdinOnce")),
            log_path=log.path,
            log_max_size=log.max_size,
            log_max_files=log.max_files,
            log_compress=log.compress,
            log_attrs=log.attrs,
            console_height=height if isinstance(height, int) and 0 < height < 65536 else 0,
            console_width=width if isinstance(width, int) and 0 < width < 65536 else 0,
        )

    def _runtime_create(self, container: Container) -> None:
        with contextlib.suppress(NotFound):
            self.runtime.delete(container.container_id, force=True)  # leftovers of a previous run
        container.bundle.mkdir(exist_ok=True)
        (container.bundle / "rootfs").mkdir(exist_ok=True)
        points = mounts.of(container)
        self._volumes.ensure(_wanted(points))  # volumes removed by hand since the create
        for point in points:
            if point.type == "volume":
                self._volumes.activate(point.name)  # a volume with mount options (type, device, o)
        user_mounts = mount_setup.oci_mounts(
            points,
            volume_dir=self._volumes.mountpoint,
            image_mounts=lambda p: self._images.snapshotter.mounts(p.image_key),
            daemon_root=str(self._root.parent),
        )
        for point in points:
            if point.type == "volume":  # Docker's "volume mount" event, one per volume at each start
                self._events.publish("volume", "mount", point.name, {
                    "driver": point.driver or "local", "container": container.container_id,
                    "destination": point.destination, "read/write": str(point.rw).lower(),
                    "propagation": point.propagation,
                })  # fmt: skip
        sandbox = self._networks.attach(container)  # its network namespace, wired (or None)
        try:
            oci = spec.build(
                container,
                cgroup_parent=self._cgroup_parent,
                seccomp_profile=self._seccomp_profile,
                userns_maps=self.userns_maps,
                user_mounts=user_mounts,
                netns=sandbox,
                peer=self._namespace_peer,
            )
            write_json(container.bundle / "config.json", oci, durable=False)
            rootfs = self._images.snapshotter.mounts(container.snapshot_key)
            self.runtime.create(
                container.container_id, container.bundle, rootfs=rootfs, io=self._io_config(container)
            )
        except BaseException:
            self._networks.detach(container)
            raise

    def _pin_namespace_peers(self, host: dict[str, Any]) -> None:
        """``container:NAME`` modes are stored as ``container:ID`` (as dockerd does), so that the link
        survives a rename; a name not found now is left for start to report."""
        for key in ("IpcMode", "PidMode"):
            mode = str(host.get(key) or "")
            if mode.startswith("container:"):
                with contextlib.suppress(NotFound):
                    host[key] = "container:" + self.get(mode.removeprefix("container:")).container_id

    def _namespace_peer(self, ref: str) -> namespaces.Peer:
        """The running container whose namespaces ``--pid``/``--ipc container:REF`` join."""
        peer = self.get(ref)
        if peer.status not in (ContainerStatus.RUNNING, ContainerStatus.PAUSED) or peer.pid <= 0:
            raise Conflict(f"container {peer.container_id} is not running")
        return namespaces.Peer(peer.container_id, peer.pid, peer.host_config)

    def id_shift(self, container: Container) -> IdShift | None:
        """How a remapped container's ids differ from the host's (None: it is not remapped)."""
        if self.userns_maps is None or not security.remapped(container.host_config, self.userns_maps):
            return None
        uids, gids = self.userns_maps
        return IdShift(uids[0]["hostID"], gids[0]["hostID"], min(uids[0]["size"], gids[0]["size"]))

    async def start(self, ref: str) -> None:
        container = self.get(ref)
        try:
            async with container.lock:
                await self._start_locked(container)
        except NotModified:
            raise
        except BerthError:
            if container.auto_remove:  # as dockerd: a --rm container that cannot start is removed
                with contextlib.suppress(NotFound):
                    await self.remove(container.container_id, force=True)
            raise

    async def _start_locked(self, container: Container) -> None:
        if container.status.is_alive():
            if container.status == ContainerStatus.PAUSED:
                raise Conflict("cannot start a paused container, try unpause instead")
            raise NotModified("container already started")
        if container.status == ContainerStatus.REMOVING:
            raise Conflict(f"container {container.short_id} is marked for removal and cannot be started")
        await asyncio.to_thread(self._runtime_create, container)
        try:
            await self._networks.publish(container)  # host ports, before init can accept on them
        except BaseException:
            await self._teardown(container)
            raise
        # Attaches made before start connect now, before init may exec: they see every byte.
        pending, container.pending_attaches = container.pending_attaches, []
        for request in pending:
            if request.future.done():
                continue
            try:
                attached = await self.runtime.attach(
                    container.container_id, stdin=request.stdin, stdout=request.stdout, stderr=request.stderr
                )
            except Exception as exc:
                request.future.set_exception(exc)
            else:
                request.future.set_result(attached)
        try:
            state = await asyncio.to_thread(self.runtime.start, container.container_id)
        except ExecFailed as exc:
            never_ran = container.started_at == ZERO_TIME
            container.status = ContainerStatus.CREATED if never_ran else ContainerStatus.EXITED
            container.exit_code = 127 if exc.errno == 2 else 126
            container.error = str(exc)
            container.finished_at = now_rfc3339()
            await self._teardown(container)
            container.save()
            container.exit_event.set()
            self._publish(container, "die", exitCode=str(container.exit_code))
            raise
        crash_point("container.start-before-record")
        container.status = ContainerStatus.RUNNING
        container.pid = state.pid
        container.exit_code = 0
        container.error = ""
        container.oom_killed = False
        container.started_at = state.started_at or now_rfc3339()
        container.finished_at = ZERO_TIME
        container.save()
        self._publish(container, "start")
        self._spawn_monitor(container)
        self._health.start(container)  # healthcheck probes (engine/health.py)

    def _delete_runtime(self, container: Container) -> None:
        with contextlib.suppress(NotFound):
            self.runtime.delete(container.container_id, force=True)
        self._networks.detach(container)
        self._release_volumes(container)

    def _release_volumes(self, container: Container) -> None:
        """Unmount the volumes with mount options that no other live container uses (Docker's local
        driver unmounts at the last user's stop)."""
        with contextlib.suppress(BerthError, OSError, ValueError):
            mine = set(mounts.volume_names(container))
            for name in sorted(mine) if container.status != ContainerStatus.REMOVING else ():
                self._events.publish(
                    "volume", "unmount", name, {"driver": "local", "container": container.container_id}
                )
            for other in list(self._containers.values()):
                if other is not container and other.status.is_alive():
                    mine -= set(mounts.volume_names(other))
            for name in mine:
                self._volumes.deactivate(name)

    async def _teardown(self, container: Container) -> None:
        """After init is gone: close its published ports, delete it from the runtime, free its addresses."""
        await self._networks.unpublish(container)
        await asyncio.to_thread(self._delete_runtime, container)

    # ---------------------------------------------------------------- monitor, restart, remove

    def _spawn_monitor(self, container: Container) -> None:
        task = asyncio.get_running_loop().create_task(
            self._monitor(container), name=f"monitor-{container.short_id}"
        )
        container.monitor = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _monitor(self, container: Container) -> None:
        state = await self.runtime.wait(container.container_id)
        async with container.lock:
            if container.status not in {ContainerStatus.RUNNING, ContainerStatus.PAUSED}:
                return
            self._record_exit(container, state.exit_code or 0, state.oom_killed, state.finished_at)
            container.error = state.error  # the runtime's word when the exit is not the process's own
            self._health.stop(container)  # healthcheck probes end with the process
            await self._teardown(container)
            self._save_despite_full_disk(container, "its exit")
        if container.oom_killed:
            self._publish(container, "oom")
        self._publish(container, "die", exitCode=str(container.exit_code))
        container.exit_event.set()
        await self._after_exit(container)

    @staticmethod
    def _save_despite_full_disk(container: Container, what: str) -> None:
        """Record ``container``; a full disk only gets a warning: what is recorded (an exit, a stop) is
        also in memory and in the runtime's evidence, which a restart reads again, while refusing to
        stop a container, or to see it exit and remove it, would keep the disk full."""
        try:
            container.save()
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            log.warning("container %s: %s not recorded: no space left on device", container.short_id, what)

    def _record_exit(self, container: Container, exit_code: int, oom: bool, finished_at: str) -> None:
        container.status = ContainerStatus.EXITED
        container.exit_code = exit_code
        container.oom_killed = oom
        container.pid = 0
        container.finished_at = finished_at or now_rfc3339()

    def _should_restart(self, container: Container) -> bool:
        policy = container.host_config.get("RestartPolicy") or {}
        name = policy.get("Name") or "no"
        if container.manually_stopped or name == "no":
            return False
        if name == "on-failure":
            limit = int(policy.get("MaximumRetryCount") or 0)
            return container.exit_code != 0 and (limit == 0 or container.restart_count < limit)
        return name in {"always", "unless-stopped"}

    async def _after_exit(self, container: Container) -> None:
        if self._should_restart(container):
            ran_for = parse_rfc3339(container.finished_at) - parse_rfc3339(container.started_at)
            delay = (
                0.1 if ran_for > 10 else min(_MAX_RESTART_DELAY, 0.1 * 2 ** min(container.restart_count, 10))
            )
            container.status = ContainerStatus.RESTARTING
            container.save()
            await asyncio.sleep(delay)
            async with container.lock:
                if container.status != ContainerStatus.RESTARTING or container.manually_stopped:
                    return
                container.restart_count += 1
                try:
                    await self._start_locked(container)
                except Exception as exc:  # the policy retries; the failure is on record
                    log.warning("restarting %s failed: %s", container.short_id, exc)
                    container.status = ContainerStatus.EXITED
                    container.save()
                    return
            self._publish(container, "restart")
        elif container.auto_remove:
            with contextlib.suppress(NotFound, Conflict):
                await self.remove(container.container_id, force=False, volumes=True)  # --rm: as dockerd

    async def remove(self, ref: str, *, force: bool, volumes: bool = False) -> None:
        """``volumes``: also remove the container's anonymous volumes (``rm -v``)."""
        container = self.get(ref)
        if container.status.is_alive() and not force:
            raise Conflict(
                f'cannot remove container "{container.name}": container is {container.status.value}: '
                "stop the container before removing or force remove"
            )
        if container.status.is_alive() or container.status == ContainerStatus.RESTARTING:
            container.manually_stopped = True
            with contextlib.suppress(NotFound, Conflict, Internal):  # Internal: no exit seen in time
                await self.kill(container.container_id, signals.SIGKILL)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10):
                    await container.exit_event.wait()
        async with container.lock:
            if container.container_id not in self._containers:
                return
            container.status = ContainerStatus.REMOVING
            self._health.stop(container)  # healthcheck probes (engine/health.py)
            with contextlib.suppress(OSError):
                container.save()
            monitor = container.monitor
            if monitor is not None and not monitor.done() and monitor is not asyncio.current_task():
                monitor.cancel()
            await self._teardown(container)
            await asyncio.to_thread(self._discard_files, container)
            del self._containers[container.container_id]
            if volumes:
                await asyncio.to_thread(self._remove_anonymous_volumes, container)
        for request in container.pending_attaches:
            request.future.cancel()
        self._publish(container, "destroy")
        container.exit_event.set()
        container.removed_event.set()

    # ---------------------------------------------------------------- stop, kill, pause

    async def kill(self, ref: str, signal: int) -> None:
        """Send ``signal``; for SIGKILL return only once the container is recorded as exited (as
        dockerd: an ``rm`` right after a ``kill`` finds it stopped). Other signals return at once."""
        container = self.get(ref)
        if not container.status.is_alive():
            raise Conflict(f"cannot kill container: {ref}: container {container.container_id} is not running")
        if container.status == ContainerStatus.PAUSED and signal != signals.SIGKILL:
            raise Conflict(
                f"cannot kill container: {ref}: container {container.container_id} is paused. Unpause the container before stopping or killing"
            )
        exited = container.next_exit_event()
        await asyncio.to_thread(
            self.runtime.kill, container.container_id, signal, all_processes=signal == signals.SIGKILL
        )
        if container.status == ContainerStatus.PAUSED:
            await asyncio.to_thread(self.runtime.resume, container.container_id)
        self._publish(container, "kill", signal=str(signal))
        if signal == signals.SIGKILL:
            try:
                async with asyncio.timeout(_KILL_WAIT):
                    await exited.wait()
            except TimeoutError:
                raise Internal(
                    f"tried to kill container, but did not receive an exit event: {container.container_id}"
                ) from None

    async def stop(self, ref: str, *, timeout: int | None, signal: str | None = None) -> None:
        container = self.get(ref)
        if container.status == ContainerStatus.RESTARTING:
            container.manually_stopped = True
            container.status = ContainerStatus.EXITED
            container.save()
            return
        if not container.status.is_alive():
            raise NotModified("container already stopped")
        container.manually_stopped = True
        self._save_despite_full_disk(container, "the stop")
        stop_signal = parse_signal(signal or container.config.get("StopSignal"), signals.SIGTERM)
        if timeout is None:
            timeout = int(container.config.get("StopTimeout") or DEFAULT_STOP_TIMEOUT)
        exited = container.next_exit_event() if container.status.is_alive() else container.exit_event
        with contextlib.suppress(Conflict):
            await self.kill(container.container_id, stop_signal)
        try:
            async with asyncio.timeout(timeout if timeout >= 0 else None):
                await exited.wait()
        except TimeoutError:
            with contextlib.suppress(Conflict):
                await self.kill(container.container_id, signals.SIGKILL)
            async with asyncio.timeout(30):
                await exited.wait()
        self._publish(container, "stop")

    async def restart(self, ref: str, *, timeout: int | None, signal: str | None = None) -> None:
        container = self.get(ref)
        with contextlib.suppress(NotModified):
            await self.stop(ref, timeout=timeout, signal=signal)
        container.manually_stopped = False
        async with container.lock:
            with contextlib.suppress(NotModified):
                await self._start_locked(container)
        self._publish(container, "restart")

    async def pause(self, ref: str) -> None:
        container = self.get(ref)
        async with container.lock:
            if container.status == ContainerStatus.PAUSED:
                raise Conflict(f"container {container.container_id} is already paused")
            if container.status != ContainerStatus.RUNNING:
                raise Conflict(f"container {container.container_id} is not running")
            await asyncio.to_thread(self.runtime.pause, container.container_id)
            container.status = ContainerStatus.PAUSED
            container.save()
        self._publish(container, "pause")

    async def unpause(self, ref: str) -> None:
        container = self.get(ref)
        async with container.lock:
            if container.status != ContainerStatus.PAUSED:
                raise Conflict(f"container {container.container_id} is not paused")
            await asyncio.to_thread(self.runtime.resume, container.container_id)
            container.status = ContainerStatus.RUNNING
            container.save()
        self._publish(container, "unpause")

    async def update(self, ref: str, body: dict[str, Any]) -> list[str]:
        """``docker update`` (engine/containers/update.py): store the new limits and restart policy,
        and write the limits to a running or paused container's cgroup; returns dockerd's warnings."""
        container = self.get(ref)
        change = updating.parse(body)
        async with container.lock:
            if container.status in {ContainerStatus.REMOVING, ContainerStatus.DEAD}:
                raise Conflict(
                    f"Cannot update container {container.container_id}: container is marked for removal "
                    'and cannot be "update"'
                )
            host = updating.merged(
                container.container_id, container.host_config, change, auto_remove=container.auto_remove
            )
            live = updating.live_resources(change)
            if container.status.is_alive() and live:
                try:
                    await asyncio.to_thread(self.runtime.update, container.container_id, live)
                except Internal as exc:
                    raise Internal(f"Cannot update container {container.container_id}: {exc}") from exc
            container.host_config = host
            container.save()
        self._publish(container, "update")
        return change.warnings

    async def rename(self, ref: str, new_name: str) -> None:
        container = self.get(ref)
        new_name = names.validate(new_name)
        if any(c.name == "/" + new_name for c in self._containers.values()):
            raise Conflict(f'Conflict. The container name "/{new_name}" is already in use')
        old = container.name
        container.name = "/" + new_name
        container.save()
        self._publish(container, "rename", oldName=old)

    # ---------------------------------------------------------------- wait, attach

    async def wait(self, ref: str, condition: str) -> Container:
        container = self.get(ref)
        if condition == "removed":
            await container.removed_event.wait()
        elif condition == "next-exit":
            await container.next_exit_event().wait()
        elif condition in {"not-running", ""}:
            if container.status.is_alive() or container.status == ContainerStatus.RESTARTING:
                await container.next_exit_event().wait()
        else:
            raise InvalidArgument(f"invalid condition: {condition!r}")
        return container

    async def attach(self, ref: str, *, stdin: bool, stdout: bool, stderr: bool) -> Attached:
        container = self.get(ref)
        if container.status.is_alive():
            attached = await self.runtime.attach(
                container.container_id, stdin=stdin, stdout=stdout, stderr=stderr
            )
        else:
            request = PendingAttach(stdin, stdout, stderr, asyncio.get_running_loop().create_future())
            container.pending_attaches.append(request)
            attached = await request.future
        self._publish(container, "attach")
        return attached

    async def resize(self, ref: str, height: int, width: int) -> None:
        container = self.get(ref)
        if not container.status.is_alive():
            raise Conflict(f"Container {container.short_id} is not running")
        await asyncio.to_thread(self.runtime.resize, container.container_id, height=height, width=width)

    # ---------------------------------------------------------------- live restore

    async def restore(self) -> None:
        """Reconnect to containers that kept running while no daemon watched them; apply restart policies."""
        containers = list(self._containers.values())
        idle = [c for c in containers if c.status in {ContainerStatus.CREATED, ContainerStatus.EXITED}]
        live, cut_short = await asyncio.to_thread(self._left_by_a_start, idle)
        for container in containers:
            if container.status == ContainerStatus.REMOVING or BUILD_STEP_LABEL in (
                container.config.get("Labels") or {}
            ):
                await self.remove(container.container_id, force=True)  # no build outlives its daemon
                continue
            if container.status in {
                ContainerStatus.RUNNING,
                ContainerStatus.PAUSED,
                ContainerStatus.RESTARTING,
            }:
                try:
                    state = await asyncio.to_thread(self.runtime.state, container.container_id)
                except NotFound:
                    state = None
                if state is not None and state.status in {Status.RUNNING, Status.PAUSED}:
                    await self._adopt(container, state)
                    continue
                if state is not None and state.status == Status.STOPPED:
                    self._record_exit(container, state.exit_code or 0, state.oom_killed, state.finished_at)
                else:
                    self._record_exit(container, 255, False, now_rfc3339())
                    container.error = "container state was lost while the daemon was down"
                await self._teardown(container)
                container.save()
                self._publish(container, "die", exitCode=str(container.exit_code))
                container.exit_event.set()
                self._spawn_task(self._after_exit(container))
            elif (state := live.get(container.container_id)) is not None:
                # a start the killed daemon did not get to record: its process runs, so it happened
                container.started_at, container.finished_at = state.started_at, ZERO_TIME
                container.exit_code, container.error = 0, ""
                await self._adopt(container, state)
            elif container.container_id in cut_short:
                # a start cut short before its record (or an exit before its teardown): its process
                # is gone, what it held is released; an exit the runtime saw is recorded
                ended = cut_short[container.container_id]
                if ended is not None and ended.status == Status.STOPPED and ended.started_at:
                    container.started_at = ended.started_at
                    self._record_exit(container, ended.exit_code or 0, ended.oom_killed, ended.finished_at)
                await self._teardown(container)
                container.save()
            elif container.status == ContainerStatus.EXITED and self._restart_on_boot(container):
                self._spawn_task(self._boot_start(container))

    def _left_by_a_start(
        self, containers: Sequence[Container]
    ) -> tuple[dict[str, State], dict[str, State | None]]:
        """Of ``containers`` (recorded as not running): those whose process runs all the same, and
        those that still hold a runtime state, a namespace or addresses (their state, if any)."""
        live: dict[str, State] = {}
        cut_short: dict[str, State | None] = {}
        for container in containers:
            try:
                state: State | None = self.runtime.state(container.container_id)
            except NotFound:
                state = None
            if state is not None and state.status in {Status.RUNNING, Status.PAUSED}:
                live[container.container_id] = state
            elif state is not None or self._networks.attached(container):
                cut_short[container.container_id] = state
        return live, cut_short

    async def _adopt(self, container: Container, state: State) -> None:
        """Watch a container whose process kept running while no daemon did."""
        container.status = (
            ContainerStatus.PAUSED if state.status == Status.PAUSED else ContainerStatus.RUNNING
        )
        container.pid = state.pid
        try:
            await asyncio.to_thread(self._networks.unplug_unrecorded, container)
        except Exception as exc:  # netlink's errors are not OSErrors; adopting it matters more
            log.warning("container %s: cannot list its links: %s", container.short_id, exc)
        try:
            await self._networks.publish(container)  # the same host ports as before
        except BerthError as exc:
            log.warning("container %s: cannot publish its ports again: %s", container.short_id, exc)
        container.save()
        self._spawn_monitor(container)
        self._health.start(container)  # healthcheck probes resume (status "starting")

    def _restart_on_boot(self, container: Container) -> bool:
        policy = (container.host_config.get("RestartPolicy") or {}).get("Name") or "no"
        return policy == "always" or (policy == "unless-stopped" and not container.manually_stopped)

    async def _boot_start(self, container: Container) -> None:
        with contextlib.suppress(NotModified, Conflict):
            container.manually_stopped = False
            await self.start(container.container_id)

    def _spawn_task(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Owns every monitor task and the reader of the shims' notices: on exit they are cancelled;
        the containers themselves keep running."""
        task = asyncio.get_running_loop().create_task(self._log_notices(), name="shim-notices")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        try:
            yield
        finally:
            self._health.stop_all()  # healthcheck probe loops (engine/health.py)
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _log_notices(self) -> None:
        """What the shims report while their containers run (a log the disk cannot take), one line each."""
        try:
            async for container_id, message in self.runtime.notices():
                log.warning("container %s: %s", container_id[:12], message)
        except OSError as exc:  # the socket cannot be bound: containers run on, their notices unheard
            log.warning("listening for shim notices: %s", exc)

    # ---------------------------------------------------------------- events

    def _publish(self, container: Container, action: str, **extra: str) -> None:
        attributes = {"name": container.name.removeprefix("/"), "image": container.image}
        attributes.update(container.config.get("Labels") or {})
        attributes.update(extra)
        self._events.publish("container", action, container.container_id, attributes)


def _wanted(points: Sequence[mounts.MountPoint]) -> list[Wanted]:
    return [
        Wanted(p.name, anonymous=p.anonymous, options=p.driver_opts, labels=p.labels)
        for p in points
        if p.type == "volume"
    ]


def _is_file(root_fd: int, path: str) -> bool:
    try:
        fd = archive.open_in_root(root_fd, path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return not stat.S_ISDIR(os.fstat(fd).st_mode)
    finally:
        os.close(fd)


def uptime_seconds(container: Container) -> float:
    return max(0.0, time.time() - parse_rfc3339(container.started_at))
