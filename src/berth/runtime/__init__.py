"""berth.runtime: the OCI container runtime (namespaces, cgroups v1/v2, a forked shim per container).
May import only berth.oci, berth.errors and berth.util — never berth.store, engine or daemon.
Entry points: LinuxRuntime (the Runtime Protocol), spec.default_spec, logread.read_entries/follow (logfile writes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from berth.runtime.container import LinuxRuntime

__all__ = ["LinuxRuntime"]


def __getattr__(name: str) -> object:
    # Lazy: the forkserver and shims import berth.runtime.* and must not pay for asyncio/subprocess.
    if name == "LinuxRuntime":
        from berth.runtime.container import LinuxRuntime

        return LinuxRuntime
    raise AttributeError(name)
