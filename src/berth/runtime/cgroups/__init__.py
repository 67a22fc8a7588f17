"""Control groups for containers: the CgroupManager Protocol, V1Manager (hybrid/legacy) and V2Manager.
May import only berth.errors, berth.util and berth.runtime.types. Entry points: ``manager_for(path)``
(new cgroup from a spec's cgroupsPath) and ``load(data)`` (re-open one recorded in the state dir);
``sysinfo.probe()``: which limits this host's cgroups support (dockerd's pkg/sysinfo).
"""

from berth.runtime.cgroups.base import CgroupManager, detect_version, load, manager_for, resolve_path

__all__ = ["CgroupManager", "detect_version", "load", "manager_for", "resolve_path"]
