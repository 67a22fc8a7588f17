"""IdShift: a remapped container's ids between the host's view and its own.

Files a remapped container writes are owned on disk by host ids (container 0 → host START); what
leaves the container (``docker cp`` out, ``export``, ``commit``'s layer) is shifted back to the
container's ids, so an image committed from it is the same as one committed without remapping; what
``docker cp`` puts in goes the other way. Ids outside the range (a file the daemon wrote as host root,
a bind's) are the container's own already and stay.
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class IdShift:
    uid_start: int
    gid_start: int
    size: int

    def to_container(self, uid: int, gid: int) -> tuple[int, int]:
        return (
            uid - self.uid_start if self.uid_start <= uid < self.uid_start + self.size else uid,
            gid - self.gid_start if self.gid_start <= gid < self.gid_start + self.size else gid,
        )

    def to_host(self, uid: int, gid: int) -> tuple[int, int]:
        return (
            uid + self.uid_start if 0 <= uid < self.size else uid,
            gid + self.gid_start if 0 <= gid < self.size else gid,
        )


def shifting(tar: tarfile.TarFile, shift: IdShift | None) -> tarfile.TarFile:
    """``tar`` (being written) with every entry's owner shifted to the container's ids."""
    if shift is None:
        return tar
    add = tar.addfile

    def addfile(info: tarfile.TarInfo, fileobj: object = None) -> None:
        info.uid, info.gid = shift.to_container(info.uid, info.gid)
        add(info, fileobj)  # type: ignore[arg-type]

    tar.addfile = addfile  # type: ignore[method-assign,assignment]
    return tar
