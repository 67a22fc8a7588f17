"""HostConfig's namespace modes in the OCI spec: PidMode, IpcMode, UTSMode, CgroupnsMode (moby's
WithNamespaces), with /dev/shm following the IPC mode (none: no /dev/shm; host: the host's;
``container:X``: X's, cloned from X's mount namespace by the runtime).

``container:X`` joins the namespaces of X's init, found through ``Peer`` (the running container's
pid and HostConfig); X must be running, and for IPC its mode must be shareable (or host).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from berth.errors import InvalidArgument


@dataclass(frozen=True, slots=True)
class Peer:
    """A running container whose namespaces another one joins."""

    container_id: str
    pid: int
    host_config: dict[str, Any]


PeerLookup = Callable[[str], Peer]


def _namespace(linux: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((ns for ns in linux["namespaces"] if ns.get("type") == kind), None)


def _remove(linux: dict[str, Any], kind: str) -> None:
    linux["namespaces"] = [ns for ns in linux["namespaces"] if ns.get("type") != kind]


def _join(linux: dict[str, Any], kind: str, path: str) -> None:
    namespace = _namespace(linux, kind)
    if namespace is None:
        linux["namespaces"].append({"type": kind, "path": path})
    else:
        namespace["path"] = path


def private_pid(host: dict[str, Any]) -> bool:
    return not str(host.get("PidMode") or "")


def apply(oci: dict[str, Any], host: dict[str, Any], peer: PeerLookup | None) -> None:
    """Set ``oci``'s namespaces and /dev/shm from ``host``'s modes."""
    linux = oci["linux"]
    pid_mode = str(host.get("PidMode") or "")
    if pid_mode == "host":
        _remove(linux, "pid")
    elif pid_mode.startswith("container:"):
        joined = _peer(peer, pid_mode.removeprefix("container:"))
        _join(linux, "pid", f"/proc/{joined.pid}/ns/pid")
    _apply_ipc(oci, str(host.get("IpcMode") or "private"), peer)
    if str(host.get("UTSMode") or "") == "host":
        _remove(linux, "uts")
        oci["hostname"] = ""
        oci.pop("domainname", None)
    if str(host.get("CgroupnsMode") or "private") == "host":
        _remove(linux, "cgroup")


def _apply_ipc(oci: dict[str, Any], mode: str, peer: PeerLookup | None) -> None:
    linux, mounts = oci["linux"], oci["mounts"]
    shm = next((m for m in mounts if m.get("destination") == "/dev/shm"), None)
    source: str | None = None
    if mode == "host":
        _remove(linux, "ipc")
        source = "/dev/shm"
    elif mode.startswith("container:"):
        name = mode.removeprefix("container:")
        joined = _peer(peer, name)
        donor = str(joined.host_config.get("IpcMode") or "private")
        if donor not in ("shareable", "host"):
            raise InvalidArgument(
                f"container {name}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)"
            )
        _join(linux, "ipc", f"/proc/{joined.pid}/ns/ipc")
        source = "/dev/shm" if donor == "host" else f"/proc/{joined.pid}/root/dev/shm"
    if shm is None:
        return
    if mode == "none":
        mounts.remove(shm)
    elif source is not None:
        shm.clear()
        shm.update(
            {"destination": "/dev/shm", "type": "bind", "source": source, "options": ["rbind", "rprivate"]}
        )


def _peer(peer: PeerLookup | None, name: str) -> Peer:
    if peer is None:
        raise InvalidArgument(f"cannot join the namespaces of container {name}: no container lookup")
    return peer(name)
