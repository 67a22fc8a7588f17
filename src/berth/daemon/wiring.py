"""The one composition root: builds every store, runtime and service berthd uses, explicitly.

data-root/                  (DaemonConfig.data_root, default /var/lib/berth)
  image/                    ImageService (content store, snapshots, metadata) — see berth.engine.images
  containers/<id>/          container records, json-file logs, hosts/hostname/resolv.conf
  volumes/<name>/           local volumes: _data/ and volume.json — see berth.engine.volumes
  networks/<id>.json        user-defined networks — see berth.engine.networks.service
  builder/                  BuildService's scratch (contexts being built)
    cache/                  RUN --mount=type=cache directories — see berth.engine.builder.cache_mounts
  daemon-id
exec-root/                  (default /run/berth)
  berth.sock                the API socket (default host)
  runtime/                  LinuxRuntime state: one dir per container, shim sockets, exit files
  netns/<container id>      network namespaces of containers on bridge networks (bind mounts)
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from berth.daemon import remap
from berth.daemon.config import DaemonConfig, seccomp_profile_text
from berth.distribution.resolver import RegistryResolver
from berth.distribution.service import RegistryService
from berth.distribution.tls import client_factory
from berth.engine.builder.builder import BuildService
from berth.engine.builder.cache_mounts import CacheMounts
from berth.engine.builder.cache_prune import SpaceLimits
from berth.engine.check import StoreCheck
from berth.engine.containers.commit import CommitService
from berth.engine.containers.execs import ExecService
from berth.engine.containers.service import ContainerService
from berth.engine.events import EventBus
from berth.engine.images import ImageService
from berth.engine.images.pull import PullService
from berth.engine.images.push import PushService
from berth.engine.networks.service import NetworkService
from berth.engine.volumes import VolumeService
from berth.network.firewall import Firewall
from berth.runtime import LinuxRuntime
from berth.runtime.cgroups.base import detect_version

CERTS_DIR = Path("/etc/berth/certs.d")


@dataclass(slots=True)
class Services:
    config: DaemonConfig
    daemon_id: str
    cgroup_version: str
    events: EventBus
    images: ImageService
    containers: ContainerService
    volumes: VolumeService
    networks: NetworkService
    execs: ExecService
    resolver: RegistryResolver
    pull: PullService
    push: PushService
    registry: RegistryService
    commits: CommitService
    build: BuildService
    build_cache: CacheMounts
    check: StoreCheck


def _daemon_id(data_root: Path) -> str:
    path = data_root / "daemon-id"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        value = secrets.token_hex(16)
        path.write_text(value + "\n")
        return value


def _first_use(data_root: Path) -> str:
    """When this data root was first used (the daemon id's birth), as Docker's RFC 3339 times."""
    made = (data_root / "daemon-id").stat().st_mtime
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime(made))


def build_services(config: DaemonConfig) -> Services:
    for directory in (config.data_root, config.exec_root):
        directory.mkdir(parents=True, exist_ok=True, mode=0o711)
    events = EventBus()
    runtime = LinuxRuntime(config.exec_root / "runtime", cgroup_parent=config.cgroup_parent)
    containers_root = config.data_root / "containers"
    holder: dict[str, ContainerService] = {}
    images = ImageService(
        config.data_root / "image",
        events=events,
        in_use=lambda: holder["containers"].images_in_use(),
        running=lambda: holder["containers"].images_in_use(running_only=True),
    )
    # Volumes are "in use" while a container mounts them; the containers answer that (lazily: built below).
    volumes = VolumeService(config.data_root / "volumes", in_use=lambda: holder["containers"].volume_users())
    daemon_id = _daemon_id(config.data_root)
    networks = NetworkService(
        config.data_root / "networks",
        netns_root=config.exec_root / "netns",
        daemon_id=daemon_id,
        since=_first_use(config.data_root),
        bridge=config.bridge,
        bip=config.bip,
        containers=lambda: holder["containers"].all(),
        container=lambda ref: holder["containers"].get(ref),
        ip_forward=config.ip_forward,
        ip_masq=config.ip_masq,
        firewall=Firewall(config.bridge),
    )
    containers = ContainerService(
        containers_root,
        images=images,
        runtime=runtime,
        events=events,
        log_max_size=config.log_max_size,
        log_max_files=config.log_max_files,
        cgroup_parent=config.cgroup_parent,
        seccomp_profile=seccomp_profile_text(config),
        userns_maps=_userns_maps(config),
        volumes=volumes,
        networks=networks,
    )
    holder["containers"] = containers
    execs = ExecService(containers=containers, runtime=runtime, events=events)
    resolver = RegistryResolver(
        default_registry=config.default_registry,
        registry_mirrors=config.registry_mirrors,
        insecure_registries=config.insecure_registries,
    )
    clients = client_factory(certs_dir=CERTS_DIR)
    pull = PullService(images=images, resolver=resolver, events=events, client_factory=clients)
    commits = CommitService(containers=containers, images=images, events=events)
    build_cache = CacheMounts(config.data_root / "builder" / "cache", gc_limits=gc_limits(config))
    return Services(
        config=config,
        daemon_id=daemon_id,
        cgroup_version=str(detect_version()),
        events=events,
        images=images,
        containers=containers,
        volumes=volumes,
        networks=networks,
        execs=execs,
        resolver=resolver,
        pull=pull,
        push=PushService(
            images=images,
            resolver=resolver,
            events=events,
            cache_dir=config.data_root / "distribution",
            client_factory=clients,
        ),
        registry=RegistryService(resolver=resolver, client_factory=clients),
        commits=commits,
        build=BuildService(
            images=images,
            containers=containers,
            commits=commits,
            pull=pull,
            work_dir=config.data_root / "builder",
            cache_mounts=build_cache,
        ),
        build_cache=build_cache,
        check=StoreCheck(config.data_root, config.exec_root, images=images, volumes=volumes, runtime=runtime),
    )


def gc_limits(config: DaemonConfig) -> SpaceLimits | None:
    """``builder.gc``'s bounds; none set: 10% of the data root's filesystem (BuildKit's default
    reserved space; 2 GB when the size is unknown, as its fallback). ``None``: GC disabled."""
    if not config.builder_gc:
        return None
    limits = SpaceLimits(
        config.builder_gc_reserved_space, config.builder_gc_max_used_space, config.builder_gc_min_free_space
    )
    if limits.reserved or limits.max_used or limits.min_free:
        return limits
    try:
        st = os.statvfs(config.data_root)
        reserved = st.f_blocks * st.f_frsize // 10
    except OSError:
        reserved = 0
    return SpaceLimits(reserved=reserved or 2 * 10**9)


def _userns_maps(config: DaemonConfig) -> tuple[list[dict[str, int]], list[dict[str, int]]] | None:
    found = remap.resolve(config.userns_remap)
    return None if found is None else (found.uid_mappings(), found.gid_mappings())
