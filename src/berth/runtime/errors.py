"""Typed errors of the runtime; each subclasses a ``berth.errors`` category and carries fields.

Conflict ── InvalidTransition       verb not allowed in the container's current status
NotFound ── ContainerNotFound       no runtime state for this id
         └─ ExecNotFound            no such exec in this container
AlreadyExists ── ContainerExists     create with an id that has runtime state
InvalidArgument ── ExecFailed       the program could not be exec'd (ENOENT → 127, EACCES → 126)
                ├─ UserNotFound     ``User`` names an account absent from the container's passwd/group
                └─ InvalidSpec      config.json is malformed
Unavailable ── ShimUnavailable      the container's shim (or the forkserver) does not answer
Internal ── CreateFailed            the kernel refused a setup step (mount, namespace, cgroup)
"""

from __future__ import annotations

import errno as _errno

from berth.errors import AlreadyExists, Conflict, Internal, InvalidArgument, NotFound, Unavailable


class InvalidTransition(Conflict):
    """A verb was called in a status that forbids it (start a running container, delete a running one).
    The caller is at fault; the message names both the action and the current status."""

    def __init__(self, container_id: str, action: str, status: str) -> None:
        super().__init__(f"cannot {action} container {container_id}: container is {status}")
        self.container_id = container_id
        self.action = action
        self.status = status


class ContainerNotFound(NotFound):
    """The runtime has no state for ``container_id``. The caller named an unknown container."""

    def __init__(self, container_id: str) -> None:
        super().__init__(f"no such container: {container_id}")
        self.container_id = container_id


class ExecNotFound(NotFound):
    """``exec_id`` was never created in this container (or the shim that knew it is gone)."""

    def __init__(self, container_id: str, exec_id: str) -> None:
        super().__init__(f"no such exec instance: {exec_id}")
        self.container_id = container_id
        self.exec_id = exec_id


class ContainerExists(AlreadyExists):
    """``create`` was called with an id that already has runtime state."""

    def __init__(self, container_id: str) -> None:
        super().__init__(f"container {container_id} already exists")
        self.container_id = container_id


class ExecFailed(InvalidArgument):
    """execve of the user's program failed: the image or the caller named a missing or non-executable
    file. ``exit_code`` is Docker's: 127 for ENOENT, 126 for EACCES and others."""

    def __init__(self, message: str, *, errno: int, command: str = "") -> None:
        super().__init__(message)
        self.errno = errno
        self.command = command

    @property
    def exit_code(self) -> int:
        return 127 if self.errno == _errno.ENOENT else 126

    @classmethod
    def for_errno(cls, command: str, err: int) -> ExecFailed:
        """Docker's (runc's) message shape for a failed exec of ``command``."""
        if err == _errno.ENOENT and "/" not in command:
            message = f'exec: "{command}": executable file not found in $PATH'
        elif err == _errno.ENOENT:
            message = f'exec: "{command}": stat {command}: no such file or directory'
        elif err == _errno.EACCES:
            message = f'exec: "{command}": permission denied'
        else:
            message = f'exec: "{command}": {_errno.errorcode.get(err, str(err))}'
        return cls(message, errno=err, command=command)


class UserNotFound(InvalidArgument):
    """The ``User`` (annotation ``io.berth.user``) names an account missing from the container."""


class InvalidSpec(InvalidArgument):
    """config.json is missing or malformed. The engine wrote a bad bundle."""


class ShimUnavailable(Unavailable):
    """The container's shim or the forkserver did not answer on its socket."""


class CreateFailed(Internal):
    """A setup step of the container failed in the kernel (mount, namespace, cgroup, …)."""

    def __init__(self, container_id: str, message: str) -> None:
        super().__init__(f"container {container_id}: {message}")
        self.container_id = container_id
