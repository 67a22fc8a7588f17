"""``diff``: a container's filesystem changes as Docker lists them.

Docker creates the paths the runtime mounts over (``/etc/hosts``, ``/etc/hostname``,
``/etc/resolv.conf``, ``/dev/console``, ``/proc``, ``/sys``…) in a separate *init* layer under the
container's own, so they never show in ``docker diff``. Berth's runtime creates them in the
container's layer; they are hidden here, with a parent directory that changed only because of them.
"""

from __future__ import annotations

import posixpath

# moby daemon/initlayer: what the init layer holds.
_INIT_LAYER = frozenset(
    {
        "/dev/pts", "/dev/shm", "/dev/console", "/dev/mqueue", "/proc", "/sys", "/.dockerenv",
        "/etc/resolv.conf", "/etc/hosts", "/etc/hostname", "/etc/mtab",
    }
)  # fmt: skip
_MODIFIED = 0


def _hidden(path: str) -> bool:
    return path in _INIT_LAYER or any(path.startswith(m + "/") for m in _INIT_LAYER)


def hide_mount_points(changes: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """``changes`` without the init layer's paths (and what lies under them), nor a directory listed
    as modified only because such a path was created in it (the same for every container, as
    Docker's init layer is)."""
    hidden = {p for p, _ in changes if _hidden(p)}
    if not hidden:
        return changes
    suspects = {posixpath.dirname(p) for p in hidden}  # "/etc" for "/etc/hosts"
    visible_below = {
        d for p, _ in changes if p not in hidden for d in suspects if p.startswith(d.rstrip("/") + "/")
    }
    return [
        (p, k)
        for p, k in changes
        if p not in hidden and not (k == _MODIFIED and p in suspects and p not in visible_below)
    ]
