"""HostConfig.Devices, DeviceCgroupRules and ``--privileged``'s devices → OCI ``linux.devices``
(nodes the runtime creates in the container's /dev) and ``linux.resources.devices`` (the device
cgroup rules), as moby's WithDevices builds them.
"""

from __future__ import annotations

import os
import stat
from typing import Any

from berth.engine.containers.security import device_rule
from berth.errors import InvalidArgument

# containerd's HostDevices skips these under /dev: the container has its own of each.
_SKIP_DIRS = {"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"}
# /dev/console is the container's own terminal; /dev/ptmx stays the link to its own devpts.
_SKIP_FILES = {"console", "ptmx"}
_TYPES = {stat.S_IFCHR: "c", stat.S_IFBLK: "b", stat.S_IFIFO: "p"}


class NotADevice(Exception):
    """The path exists but is no device node."""


def device_from_path(path: str) -> dict[str, Any]:
    """containerd's DeviceFromPath: the node at ``path`` (not following a symlink) as an OCI device."""
    info = os.lstat(path)
    kind = _TYPES.get(stat.S_IFMT(info.st_mode))
    if kind is None:
        raise NotADevice(path)
    device: dict[str, Any] = {
        "path": path, "type": kind, "fileMode": stat.S_IMODE(info.st_mode), "uid": info.st_uid,
        "gid": info.st_gid, "major": 0, "minor": 0,
    }  # fmt: skip
    if kind != "p":
        device["major"], device["minor"] = os.major(info.st_rdev), os.minor(info.st_rdev)
    return device


def _rule(device: dict[str, Any], access: str) -> dict[str, Any]:
    return {
        "allow": True, "type": device["type"], "major": device["major"], "minor": device["minor"],
        "access": access,
    }  # fmt: skip


def devices_from_path(host_path: str, container_path: str, access: str) -> tuple[list[Any], list[Any]]:
    """moby's DevicesFromPath: one device, or every device under a directory (``--device /dev/snd``)."""
    resolved = os.path.realpath(host_path) if os.path.islink(host_path) else host_path
    try:
        device = device_from_path(resolved)
    except NotADevice:
        reason = "not a device node"
    except OSError as exc:
        reason = exc.strerror or str(exc)
    else:
        device["path"] = container_path
        return [device], [_rule(device, access)]
    devices, rules = [], []
    if reason == "not a device node" and os.path.isdir(resolved):
        for directory, _, files in os.walk(resolved):
            for name in sorted(files):
                try:
                    child = device_from_path(os.path.join(directory, name))
                except (NotADevice, OSError):
                    continue
                child["path"] = child["path"].replace(resolved, container_path, 1)
                devices.append(child)
                rules.append(_rule(child, access))
    if devices:
        return devices, rules
    raise InvalidArgument(
        f'error gathering device information while adding custom device "{host_path}": {reason.lower()}'
    )


def host_devices(root: str = "/dev") -> list[dict[str, Any]]:
    """Every device node under the host's /dev (``--privileged``), as containerd's HostDevices."""
    found = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not (directory == root and d in _SKIP_DIRS))
        for name in sorted(files):
            if directory == root and name in _SKIP_FILES:
                continue
            try:
                found.append(device_from_path(os.path.join(directory, name)))
            except (NotADevice, OSError):
                continue
    return found


def apply(host: dict[str, Any], linux: dict[str, Any]) -> None:
    """Add HostConfig's devices and rules to the spec's ``linux`` section (default rules kept)."""
    devices: list[Any] = linux.setdefault("devices", [])
    resources = linux.setdefault("resources", {})
    rules: list[Any] = resources.setdefault("devices", [])
    if host.get("Privileged"):
        devices += host_devices()
        for mapping in host.get("Devices") or []:
            source, target = _paths(mapping)
            if source != target:
                devices += devices_from_path(source, target, "rwm")[0]
        resources["devices"] = [{"allow": True, "access": "rwm"}]
        return
    for mapping in host.get("Devices") or []:
        source, target = _paths(mapping)
        found, allowed = devices_from_path(source, target, str(mapping.get("CgroupPermissions") or "rwm"))
        devices += found
        rules += allowed
    rules += [device_rule(str(rule)) for rule in host.get("DeviceCgroupRules") or []]


def _paths(mapping: dict[str, Any]) -> tuple[str, str]:
    source = str(mapping.get("PathOnHost") or "")
    return source, str(mapping.get("PathInContainer") or source)
